"""Data: the user's files, built-in corpora, their streams, and batches for the models."""

from s2s_keras.data.batching import make_batches
from s2s_keras.data.batching import padding_fraction
from s2s_keras.data.batching import tokenize_pairs
from s2s_keras.data.corpora import CORPORA
from s2s_keras.data.corpora import load_corpus
from s2s_keras.data.corpora import prepare_corpus
from s2s_keras.data.files import prepare_files
from s2s_keras.data.files import read_columns
from s2s_keras.data.files import read_pairs
from s2s_keras.data.pairs import Splits
from s2s_keras.data.pairs import open_splits
from s2s_keras.data.shards import read_pairs as read_shards
from s2s_keras.data.tfds_sets import load_tfds

__all__ = [
    "CORPORA",
    "Splits",
    "load_corpus",
    "load_tfds",
    "make_batches",
    "open_splits",
    "padding_fraction",
    "prepare_corpus",
    "prepare_files",
    "read_columns",
    "read_pairs",
    "read_shards",
    "tokenize_pairs",
]
