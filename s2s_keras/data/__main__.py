"""The built-in corpora's frozen test splits from the command line.

    python -m s2s_keras.data frozen                       # corpus, version, pairs
    python -m s2s_keras.data freeze debian_descriptions   # freeze today's split
    python -m s2s_keras.data freeze debian_translations --lang it
    python -m s2s_keras.data freeze python_summaries      # the out-of-domain set

`freeze` writes into the package's `data/frozen_tests/` (a maintainer's step
before a release); `load_corpus(NAME, "test", version=DATE)` reads them.
"""

import argparse
import sys

from s2s_keras.data import frozen
from s2s_keras.data import python_summaries


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m s2s_keras.data",
        description="The built-in corpora's frozen test splits: list them, or "
        "freeze today's (for maintainers: the file goes into the package).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("frozen", help="each frozen split: corpus, version, pairs")
    freezing = commands.add_parser("freeze", help="freeze today's test split")
    freezing.add_argument(
        "name",
        help="a built-in corpus, e.g. debian_descriptions, or python_summaries "
        "(the out-of-domain summaries, frozen whole)",
    )
    freezing.add_argument("--lang", help="debian_translations' language, e.g. it")
    freezing.add_argument(
        "--pairs", type=int, default=frozen.PAIRS, help="pairs to keep"
    )
    args = parser.parse_args(argv)
    if args.command == "frozen":
        for key, entries in sorted(frozen.read_index().items()):
            for version, entry in sorted(entries.items()):
                sizes = entry["provenance"].get("split_sizes")
                kind = f"splits {sizes}" if sizes else "all of it, for evaluation"
                print(f"{key} {version}: {entry['pairs']} test pairs ({kind})")
        return 0
    options = {"lang": args.lang} if args.lang else {}
    try:
        if args.name == python_summaries.NAME:  # an evaluation set, whole
            entry = python_summaries.freeze()
        else:
            entry = frozen.freeze(args.name, pairs=args.pairs, **options)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Froze {entry['pairs']} test pairs: {frozen.FOLDER / entry['file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
