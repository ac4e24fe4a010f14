"""s2s_keras: sequence-to-sequence learning with attention, in Keras 3."""

from s2s_keras import layers
from s2s_keras import special_tokens
from s2s_keras._version import __version__
from s2s_keras.models import build_seq2seq

__all__ = ["build_seq2seq", "layers", "special_tokens", "__version__"]
