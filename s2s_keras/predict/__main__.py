"""`python -m s2s_keras.predict MODEL --input FILES --output DIR`: batch inference."""

import argparse
import sys

DESCRIPTION = """\
Run an export (a recipe's --output) or a preset over every row of files of
any size, in batches, and write the rows with the model's output added, in
gzipped JSONL parts, one folder per input file. A part is written whole or
not at all, so a run that was stopped goes on, run again, from the first
part missing; files already done are skipped.

    python -m s2s_keras.predict summarize_debian --input 'corpus/*.jsonl.gz' \\
        --field text --output summaries/
    python -m s2s_keras.predict saved_models/summarize --input lines.txt --output out/

A .jsonl row is a JSON object whose --field is the text; a .txt row is the
text. Each output row is the input's record plus --output-field (the text
out) and the signature's other outputs (--output-field_scores, ...).
For more than one machine, the same job runs on Apache Beam:
python -m s2s_keras.predict.beam (pip install "s2s_keras[beam]").
"""


def add_job_arguments(parser, output_help):
    """The arguments the file job and the Beam pipeline share."""
    # fmt: off
    parser.add_argument("model", metavar="MODEL", help="an export folder (saved_model/ and export.json), or a preset's name or folder")
    parser.add_argument("--input", required=True, help="an input file, or a glob in quotes ('corpus/*.jsonl.gz'): .jsonl or .txt, gzipped or not")
    parser.add_argument("--output", required=True, help=output_help)
    parser.add_argument("--field", default="text", help="the text field of a .jsonl row (the name given to a .txt line) (default: %(default)s)")
    parser.add_argument("--output-field", default="prediction", help="the field of the model's text output in each row (default: %(default)s)")
    parser.add_argument("--signature", default="serving_default", help="the signature to run; it takes one text input (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="rows a call of the model, at most (default: %(default)s)")
    # fmt: on


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m s2s_keras.predict",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_job_arguments(parser, "the output folder; run again, it resumes what it holds")
    parser.add_argument("--shard-rows", type=int, default=10_000, help="rows in an output part, the unit a rerun resumes from (default: %(default)s)")  # fmt: skip
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from s2s_keras.predict import ExportPredictor
    from s2s_keras.predict import predict_files

    try:
        predict = ExportPredictor(args.model, args.signature, args.output_field)
        counts = predict_files(
            predict,
            args.input,
            args.output,
            field=args.field,
            batch_size=args.batch_size,
            shard_rows=args.shard_rows,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(
        f"\n{counts['rows']:,} rows of {counts['files']} file(s) in {args.output} "
        f"({counts['predicted']:,} predicted by this run)",
        flush=True,
    )


if __name__ == "__main__":
    main()
