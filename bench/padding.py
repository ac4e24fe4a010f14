"""Padding in batches: bucketing by source length against padding to the longest.

On `debian_descriptions` (train split), with sources cut at 96 subwords and
targets at 24:

1. the share of the ids in a batch that are padding, sources and targets
   together, with `make_batches(bucket=True)` (the default) and with every
   batch padded to its longest pair (`bucket=False`);
2. with `--time`, training speed in real (non-padding) target tokens per
   second, the same pairs for every model: the built-in Keras composite
   (see `bench/training.py`) fed the keras.io way, every batch padded to the
   cut-off lengths (96 and 24 by default), against `build_seq2seq` fed the same
   batches and fed the bucketed ones.

    python bench/padding.py            # the padding shares, about 2 minutes
    python bench/padding.py --time     # and the speeds, about 8 minutes more
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from training import composite  # noqa: E402
from training import print_speeds  # noqa: E402
from training import timed_epochs  # noqa: E402

from s2s_keras import build_seq2seq  # noqa: E402
from s2s_keras.data import load_corpus  # noqa: E402
from s2s_keras.data import make_batches  # noqa: E402
from s2s_keras.data import padding_fraction  # noqa: E402
from s2s_keras.special_tokens import PAD_ID  # noqa: E402
from s2s_keras.text import SubwordTokenizer  # noqa: E402


def pad_to(batches, source_length, target_length):
    """Every batch padded to the cut-off lengths, the longest a pair can be.

    That is what keras.io's examples do with `pad_sequences(maxlen=...)`.
    """

    def pad(inputs, labels):
        def widen(ids, width):
            return tf.pad(
                ids, [[0, 0], [0, width - tf.shape(ids)[1]]], constant_values=PAD_ID
            )

        return (
            {
                "source_ids": widen(inputs["source_ids"], source_length),
                "target_ids": widen(inputs["target_ids"], target_length),
            },
            widen(labels, target_length),
        )

    return batches.map(pad)


def real_target_tokens(batches):
    return sum(
        int(tf.reduce_sum(tf.cast(labels != PAD_ID, tf.int32))) for _, labels in batches
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=64, help="pairs per batch")
    parser.add_argument(
        "--max-source-length", type=int, default=96, help="source subwords kept"
    )
    parser.add_argument(
        "--max-target-length", type=int, default=24, help="target subwords kept"
    )
    parser.add_argument(
        "--time", action="store_true", help="also time training on each batching"
    )
    parser.add_argument(
        "--pairs", type=int, default=1920, help="pairs per timed epoch (with --time)"
    )
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per model")
    args = parser.parse_args(argv)
    train = load_corpus("debian_descriptions", "train")
    sample = train.take(20_000).as_numpy_iterator()
    tokenizer = SubwordTokenizer.train(
        (t.decode() for pair in sample for t in pair), 8000
    )
    sizes = {
        "batch_size": args.batch_size,
        "max_source_length": args.max_source_length,
        "max_target_length": args.max_target_length,
    }
    print("| batching | padding share of ids |\n|---|---|")
    for name, bucket in [
        ("bucketed by source length", True),
        ("padded to longest in batch", False),
    ]:
        batches = make_batches(train, tokenizer, shuffle=True, bucket=bucket, **sizes)
        print(f"| {name} | {100 * padding_fraction(batches):.1f}% |")
    if not args.time:
        return

    pairs = train.take(args.pairs)
    bucketed = make_batches(pairs, tokenizer, **sizes).cache()
    padded = pad_to(
        make_batches(pairs, tokenizer, bucket=False, **sizes).cache(),
        args.max_source_length,
        args.max_target_length,
    )
    tokens = real_target_tokens(bucketed)
    assert tokens == real_target_tokens(padded)  # the same pairs in both
    print(
        f"\n{args.pairs} pairs ({tokens} real target tokens) per epoch, vocab 8000, "
        f"embedding 128, LSTM 256; median of {args.epochs} epochs\n"
    )

    def seeded(make):
        keras.utils.set_random_seed(0)
        return make()

    def ours():
        return build_seq2seq(8000, 8000, 128, 256)

    runs = {
        "built-in composite, padded to the longest example": (
            seeded(lambda: composite(8000, 128, 256)),
            padded,
        ),
        "s2s_keras build_seq2seq, padded to the longest example": (
            seeded(ours),
            padded,
        ),
        "s2s_keras build_seq2seq, bucketed (`make_batches`)": (seeded(ours), bucketed),
    }
    print_speeds(timed_epochs(runs, args.epochs), tokens)


if __name__ == "__main__":
    main()
