"""Data: the user's files, built-in corpora, and batches for the models."""

from s2s_keras.data.batching import make_batches
from s2s_keras.data.batching import padding_fraction
from s2s_keras.data.batching import tokenize_pairs
from s2s_keras.data.corpora import CORPORA
from s2s_keras.data.corpora import load_corpus
from s2s_keras.data.corpora import prepare_corpus
from s2s_keras.data.files import load_pairs
from s2s_keras.data.files import read_columns
from s2s_keras.data.files import read_pairs
from s2s_keras.data.tfds_sets import load_tfds

__all__ = [
    "CORPORA",
    "load_corpus",
    "load_pairs",
    "load_tfds",
    "make_batches",
    "padding_fraction",
    "prepare_corpus",
    "read_columns",
    "read_pairs",
    "tokenize_pairs",
]
