"""In-graph text processing: the subword tokenizer."""

from s2s_keras.text.tokenizer import SubwordTokenizer

__all__ = ["SubwordTokenizer"]
