"""Padding in batches: bucketing by source length against padding each batch.

On `debian_descriptions` (train split), the share of the ids in a batch that
are padding, sources and targets together, with `make_batches(bucket=True)`
and with every batch padded to its longest pair (`bucket=False`).

    python bench/padding.py
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s2s_keras.data import load_corpus  # noqa: E402
from s2s_keras.data import make_batches  # noqa: E402
from s2s_keras.data import padding_fraction  # noqa: E402
from s2s_keras.text import SubwordTokenizer  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=64, help="pairs per batch")
    parser.add_argument(
        "--max-source-length", type=int, default=96, help="source subwords kept"
    )
    parser.add_argument(
        "--max-target-length", type=int, default=24, help="target subwords kept"
    )
    args = parser.parse_args(argv)
    train = load_corpus("debian_descriptions", "train")
    sample = train.take(20_000).as_numpy_iterator()
    tokenizer = SubwordTokenizer.train(
        (t.decode() for pair in sample for t in pair), 8000
    )
    print("| batching | padding share of ids |\n|---|---|")
    for name, bucket in [
        ("bucketed by source length", True),
        ("padded to longest in batch", False),
    ]:
        batches = make_batches(
            train,
            tokenizer,
            batch_size=args.batch_size,
            max_source_length=args.max_source_length,
            max_target_length=args.max_target_length,
            shuffle=True,
            bucket=bucket,
        )
        print(f"| {name} | {100 * padding_fraction(batches):.1f}% |")


if __name__ == "__main__":
    main()
