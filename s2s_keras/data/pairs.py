"""A run's pairs: its three splits, its tokenizer, and its batches.

pairs = load_splits(DataConfig(corpus="debian_descriptions", quick=True))
tokenizer = tokenizer_for("out/tokenizer", pairs["train"], vocab_size=4000)
train = batches(pairs["train"], tokenizer, batch_size=64, shuffle=True)
"""

import random

import tensorflow as tf

from s2s_keras.console import log
from s2s_keras.data.batching import make_batches
from s2s_keras.data.corpora import load_corpus
from s2s_keras.data.files import read_columns
from s2s_keras.data.files import read_pairs
from s2s_keras.data.splits import split_of
from s2s_keras.data.splits import text_key
from s2s_keras.data.tfds_sets import load_tfds
from s2s_keras.text import SubwordTokenizer

SPLITS = ("train", "validation", "test")


def load_splits(config):
    """Train / validation / test lists of `(source, target)` Python strings.

    A `data` file is split 90 / 5 / 5 by a hash of each source text with
    case, white space and digits folded (`text_key`), so texts that differ
    only there share a split. With a `context_field` the source is
    "question <context> context" and the split is hashed from the context,
    so every question about one passage lands in the same split.

    Args:
        config: a `DataConfig` (where the pairs come from, and how many).

    Returns:
        A dict split name -> list of pairs, each split in a fixed shuffled
        order (so that cuts are fair samples), cut to `config.limits()`.

    Raises:
        ValueError: a split is empty.
    """
    if config.data:
        splits, hint = _split_file(config)
    else:
        splits, hint = {}, ""
        for split in SPLITS:
            if config.tfds:
                dataset = load_tfds(
                    config.tfds,
                    split,
                    None if config.source_field == "source" else config.source_field,
                    None if config.target_field == "target" else config.target_field,
                )
            else:
                dataset = load_corpus(
                    config.corpus, split, log=log, **config.corpus_options
                )
            splits[split] = [
                (source.decode("utf-8"), target.decode("utf-8"))
                for source, target in dataset.as_numpy_iterator()
            ]
    for split_pairs in splits.values():
        random.Random(0).shuffle(split_pairs)
    for split, limit in config.limits().items():
        splits[split] = splits[split][:limit]
    for split, pairs in splits.items():
        if not pairs:
            raise ValueError(f"The {split} split is empty: more data is needed.{hint}")
    log(
        "Pairs: "
        + ", ".join(f"{split} {len(pairs)}" for split, pairs in splits.items())
    )
    return splits


def _split_file(config):
    """The splits of a `data` file, and a hint for when one is empty."""
    if config.context_field:
        questions, contexts, targets = read_columns(
            config.data,
            (config.source_field, config.context_field, config.target_field),
        )
        sources = [
            f"{question} <context> {context}"
            for question, context in zip(questions, contexts, strict=True)
        ]
        keys, what = contexts, "context"
    else:
        sources, targets = read_pairs(
            config.data, config.source_field, config.target_field, log=log
        )
        keys, what = sources, "source text"
    folded = [text_key(key) for key in keys]
    splits = {split: [] for split in SPLITS}
    for pair, key in zip(zip(sources, targets, strict=True), folded, strict=True):
        splits[split_of(key)].append(pair)
    hint = (
        f" {config.data} is split 90/5/5 by a hash of each {what}, and holds "
        f"{len(set(folded))} distinct one(s): rows that share one stay together."
    )
    return splits, hint


def tokenizer_for(folder, train_pairs, vocab_size, seed=0):
    """The tokenizer saved in `folder`, or a new one learned from the train split.

    Reusing the saved one keeps ids stable when a run resumes from its backup.

    Args:
        folder: where the tokenizer is (or will be) saved.
        train_pairs: list of `(source, target)` strings to learn from.
        vocab_size: int, subword vocabulary size.
        seed: int, the learning seed.
    """
    if (folder / "tokenizer.model").is_file():
        log(f"Using the tokenizer in {folder}")
        return SubwordTokenizer.load(folder)
    log(f"Learning a {vocab_size}-piece subword vocabulary ...")
    texts = [text for pair in train_pairs for text in pair]
    tokenizer = SubwordTokenizer.train(texts, vocab_size=vocab_size, seed=seed)
    tokenizer.save(folder)
    return tokenizer


def batches(
    pairs,
    tokenizer,
    batch_size=64,
    max_source_length=96,
    max_target_length=24,
    shuffle=False,
    seed=0,
):
    """Bucketed batches of `pairs` (see `make_batches`), with a known length.

    The length lets `fit` draw a progress bar with a total; bucket sizes do
    not depend on the order, so neither does the count.
    """
    sources, targets = zip(*pairs, strict=True)
    dataset = make_batches(
        tf.data.Dataset.from_tensor_slices((list(sources), list(targets))),
        tokenizer,
        batch_size=batch_size,
        max_source_length=max_source_length,
        max_target_length=max_target_length,
        shuffle=shuffle,
        seed=seed,
    )
    count = int(dataset.reduce(0, lambda count, _: count + 1))
    return dataset.apply(tf.data.experimental.assert_cardinality(count))
