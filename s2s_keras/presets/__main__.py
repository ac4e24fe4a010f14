"""`python -m s2s_keras.presets`: list the presets, export one, or make one."""

import argparse
import json
import pathlib
import sys

DESCRIPTION = """\
The zoo's trained models.

    python -m s2s_keras.presets list
    python -m s2s_keras.presets export summarize_debian exports/summarize_debian
    python -m s2s_keras.presets make RUN_OUTPUT saved_models/NAME --command "python recipes/..."
    python -m s2s_keras.presets pack summarize_debian summarize_debian.tar.gz
    python -m s2s_keras.presets evaluate summarize_debian

`export` writes today's export folder (saved_model/, model.tflite, model.keras,
tokenizer/, export.json, README.md): a TensorFlow program then needs only
`import tensorflow_text` and `tf.saved_model.load(DIR + "/saved_model")`.
`make` turns a recipe's --output into a preset (compact weights, scores on the
test pairs, metadata.json, README.md). `pack` writes a preset as a .tar.gz
and prints the line that loads it, pinned by its sha256, from a file:// or an
https:// URL (fetched once into ~/.cache/s2s_keras/presets, or
$S2S_KERAS_CACHE/presets). `evaluate` scores a preset again on the test
pairs stored with it (`freeze` stores today's) and fails unless every score
is within 0.2 of its card's.
"""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m s2s_keras.presets",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the presets, their task and test score")
    export = commands.add_parser("export", help="write a preset's export folder")
    export.add_argument("name", help="a preset name (see list) or folder")
    export.add_argument(
        "directory", type=pathlib.Path, help="the export folder to write"
    )
    export.add_argument(
        "--quantize", choices=["int8"], help="int8 weights in the export"
    )
    export.add_argument("--tflite", action=argparse.BooleanOptionalAction, default=True, help="write model.tflite (default: %(default)s)")  # fmt: skip
    pack = commands.add_parser(
        "pack", help="write a preset as a .tar.gz to load by URL"
    )
    pack.add_argument("name", help="a preset name (see list) or folder")
    pack.add_argument("archive", type=pathlib.Path, help="the .tar.gz to write")
    evaluate = commands.add_parser(
        "evaluate", help="score a preset again on its stored test pairs"
    )
    evaluate.add_argument("name", help="a preset name (see list) or folder")
    freeze = commands.add_parser(
        "freeze", help="store today's test pairs with a preset, and its scores on them"
    )
    freeze.add_argument("name", help="a preset name (see list) or folder")
    make = commands.add_parser("make", help="make a preset from a recipe's --output")
    make.add_argument(
        "export", type=pathlib.Path, help="a recipe's --output, with metrics.json"
    )
    make.add_argument("directory", type=pathlib.Path, help="the preset folder to write")
    make.add_argument("--command", required=True, help="the command that trained it, for the card")  # fmt: skip
    make.add_argument("--decoding", type=pathlib.Path, help="recipes/tune_decoding.py's JSON: its best settings are the preset's")  # fmt: skip
    make.add_argument("--compare", nargs=2, action="append", metavar=("LABEL", "RUN_OUTPUT"), default=[], help="another run of the task whose scores the card shows, e.g. --compare '20-minute default' saved_models/summarize")  # fmt: skip
    make.add_argument("--storage", choices=["float16", "int8"], default="float16", help="weight storage (default: %(default)s)")  # fmt: skip
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from s2s_keras import presets

    try:
        if args.command == "list":
            for name in presets.list():
                metadata = presets.find(name) / "metadata.json"
                about = json.loads(metadata.read_text()) if metadata.is_file() else {}
                scores = about.get("scores", {}).get("preset", {})
                shown = ", ".join(f"{key} {value:.1f}" for key, value in scores.items())
                print(f"{name}: {about.get('description', '')} ({shown})")
        elif args.command in ("evaluate", "freeze"):
            from s2s_keras.presets import frozen

            preset = presets.load(args.name)
            if args.command == "freeze":
                stored = frozen.freeze(preset)
                print(f"Stored {stored['pairs']} test pairs in {preset.directory}/"
                      f"{stored['file']}: {stored['scores']}")  # fmt: skip
                return
            compared = frozen.evaluate(preset)
            print("| score | card | now | difference |\n|---|---|---|---|")
            for key, (card, now) in compared.items():
                print(f"| {key} | {card:.2f} | {now:.2f} | {now - card:+.2f} |")
            if any(
                abs(now - card) > frozen.TOLERANCE for card, now in compared.values()
            ):
                print(f"error: a score is more than {frozen.TOLERANCE} from the card's",
                      file=sys.stderr)  # fmt: skip
                sys.exit(1)
        elif args.command == "pack":
            from s2s_keras.presets.remote import pack

            sha256 = pack(presets.find(args.name), args.archive)
            url = args.archive.resolve().as_uri()
            print(f"Wrote {args.archive} (sha256 {sha256}). Load it with:\n")
            print(f'    presets.load("{url}", sha256="{sha256}")\n')
            print("or, put on a web server, with its https:// URL in place of file://.")
        elif args.command == "export":
            folder = presets.load(args.name).export(
                args.directory, quantization=args.quantize, tflite=args.tflite
            )
            print(f"Wrote {folder}/")
        else:
            decoding = (
                json.loads(args.decoding.read_text())["best"] if args.decoding else None
            )
            preset = presets.make_preset(
                args.export,
                args.directory,
                args.storage,
                decoding,
                args.command,
                compare=dict(args.compare),
            )
            print(f"Wrote {args.directory}/: {preset.metadata['scores']['preset']}")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
