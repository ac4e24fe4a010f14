"""s2s_keras: sequence-to-sequence learning with attention, in Keras 3."""

from s2s_keras.utils.tensorflow_import import import_tensorflow

import_tensorflow()  # first: without the JAX and matplotlib TensorFlow does not need

from s2s_keras import layers  # noqa: E402  (after TensorFlow, above)
from s2s_keras import special_tokens  # noqa: E402
from s2s_keras._version import __version__  # noqa: E402
from s2s_keras.models import build_seq2seq  # noqa: E402

__all__ = ["build_seq2seq", "layers", "special_tokens", "__version__"]
