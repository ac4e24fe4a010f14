"""Tune decoding: choose a trained model's decoding settings on validation pairs.

Reads an export (a recipe's --output), scores its outputs for the first
validation pairs of the data it was trained on, and searches the decoding
settings one at a time (method, length penalty, n-gram blocking, minimum
length, coverage and repetition penalties, known words only where the
export has a lexicon; see
s2s_keras/training/generation_search.py). Prints every trial, the best settings and
the recipe flags that give them, and writes them to a JSON file. The test
pairs are never read.

    python recipes/tune_decoding.py --model saved_models/summarize
    python recipes/tune_decoding.py --model saved_models/translate --pairs 300
"""

import argparse
import dataclasses
import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s2s_keras.data import open_splits  # noqa: E402
from s2s_keras.export import read_export  # noqa: E402
from s2s_keras.layers import AttentionDecoder  # noqa: E402
from s2s_keras.metrics import HEADLINE  # noqa: E402
from s2s_keras.training import flags  # noqa: E402
from s2s_keras.training import tasks  # noqa: E402
from s2s_keras.training.config import GenerationConfig  # noqa: E402
from s2s_keras.training.config import run_data_config  # noqa: E402
from s2s_keras.training.generation_search import as_flags  # noqa: E402
from s2s_keras.training.generation_search import describe  # noqa: E402
from s2s_keras.training.generation_search import search_generation  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        type=pathlib.Path,
        required=True,
        help="an export directory with metrics.json (a recipe's --output)",
    )
    parser.add_argument(
        "--pairs",
        type=flags.positive_int,
        default=500,
        help="validation pairs scored per trial (default: %(default)s)",
    )
    parser.add_argument(
        "--output",
        type=pathlib.Path,
        help="where the trials and the best settings go (default: MODEL/decoding_search.json)",
    )
    return parser.parse_args(argv)  # fmt: skip


def main(argv=None):
    args = parse_args(argv)
    export = read_export(args.model)
    if export["metrics"] is None:
        raise ValueError(
            f"{args.model} has no metrics.json: tune the export of a recipe run, "
            "which says what data it was trained on."
        )
    run_flags = export["metrics"]["config"]
    task = tasks.get(export["metrics"]["task"])
    data = run_data_config(run_flags, validation_pairs=args.pairs)
    pairs = open_splits(data).take("validation", args.pairs)
    print(f"Tuning decoding of {args.model} on {len(pairs)} validation pairs ...")
    model = export["model"]
    best, trials = search_generation(
        model,
        export["tokenizer"],
        pairs,
        task.metric,
        start=GenerationConfig(max_length=data.max_target_length),
        max_source_length=data.max_source_length,
        has_attention=isinstance(model.get_layer("decoder"), AttentionDecoder),
        lexicon=export["lexicon"],
    )
    headline = HEADLINE[task.metric]
    print(f"\n{'settings':58} {headline:>8} {'ms/pair':>8}")
    for trial in sorted(trials, key=lambda trial: -trial.scores[headline]):
        print(
            f"{describe(trial.generation):58} {trial.scores[headline]:8.2f} "
            f"{1000 * trial.seconds_per_pair:8.1f}"
        )
    print(f"\nBest: {describe(best)}\nFlags: {' '.join(as_flags(best))}")
    output = args.output or args.model / "decoding_search.json"
    summary = {
        "model": str(args.model),
        "validation_pairs": len(pairs),
        "best": dataclasses.asdict(best),
        "flags": as_flags(best),
        "trials": [
            {
                "settings": dataclasses.asdict(trial.generation),
                "scores": trial.scores,
                "seconds_per_pair": trial.seconds_per_pair,
            }
            for trial in trials
        ],
    }
    output.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"Written to {output}")
    return summary


if __name__ == "__main__":
    flags.run(main)
