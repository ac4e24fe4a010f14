"""In-graph generation: greedy, beam search and sampling on the decoder's step."""

from s2s_keras.decoding.generator import METHODS
from s2s_keras.decoding.generator import Generator
from s2s_keras.decoding.generator import generate

__all__ = ["METHODS", "Generator", "generate"]
