"""The validation cross-entropy of an export's model, or of other weights for it.

Loads a recipe's export (`--output`), opens the data it was trained on (the
config its `metrics.json` records), and evaluates the model on that
validation split as the run validated it: the `cross_entropy` metric of
`compile_seq2seq`, unsmoothed, padding not counted. With weights files
(`runs/<model>/epochs/epoch-NNN.weights.h5` that `--average-epochs` keeps,
or a backup's), each is loaded into the same model and evaluated in turn.

    python bench/validation_loss.py /tmp/abl3/avg2
    python bench/validation_loss.py /tmp/abl3/avg2 epoch-002.weights.h5 epoch-003.weights.h5
"""

import argparse
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s2s_keras.data.pairs import open_splits  # noqa: E402
from s2s_keras.export import read_export  # noqa: E402
from s2s_keras.models import compile_seq2seq  # noqa: E402
from s2s_keras.training.config import run_data_config  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Prints one line per model: what was evaluated and its cross-entropy.",
    )
    parser.add_argument("export", type=pathlib.Path, help="a recipe's export folder")
    parser.add_argument(
        "weights",
        nargs="*",
        type=pathlib.Path,
        help="weights files to evaluate instead",
    )
    args = parser.parse_args(argv)
    export = read_export(args.export)
    if export["metrics"] is None:
        parser.error(f"{args.export} has no metrics.json: pass a recipe's --output")
    flags = export["metrics"]["config"]
    validation = open_splits(run_data_config(flags)).batches(
        "validation",
        export["tokenizer"],
        max_source_length=flags["max_source_length"],
        max_target_length=flags["max_target_length"],
    )
    model = compile_seq2seq(export["model"])
    for weights in args.weights or [None]:
        if weights is not None:
            if not weights.is_file():
                parser.error(f"no weights file at {str(weights)!r}")
            model.load_weights(weights)
        result = model.evaluate(validation, verbose=0, return_dict=True)
        print(
            f"{weights or args.export}: validation cross-entropy {result['cross_entropy']:.4f}"
        )


if __name__ == "__main__":
    main()
