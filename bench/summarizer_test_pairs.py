"""What the summarizer benchmarks share: `--model` and `--eval-pairs`, the test pairs."""

import argparse
import pathlib

from s2s_keras.data.pairs import open_splits
from s2s_keras.training import tasks
from s2s_keras.training.config import DataConfig

TASK = tasks.get("summarize")


def parse_args(doc, argv=None):
    """`--model` (an export of recipes/summarize.py) and `--eval-pairs`."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument(
        "--model",
        type=pathlib.Path,
        default=pathlib.Path("saved_models/summarize"),
        help="an export of recipes/summarize.py (default: %(default)s)",
    )
    parser.add_argument("--eval-pairs", type=int, default=1000, help="test pairs")
    return parser.parse_args(argv)


def test_pairs(eval_pairs):
    """The recipe's first `eval_pairs` test pairs: `(sources, references)`."""
    pairs = open_splits(DataConfig(corpus=TASK.corpus, eval_pairs=eval_pairs)).take(
        "test"
    )
    return [source for source, _ in pairs], [target for _, target in pairs]
