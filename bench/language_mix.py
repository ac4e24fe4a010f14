"""What drawing languages at a temperature costs the training stream.

Reads the same number of `(source, target)` string pairs from a multilingual
corpus's training split, as it is and with its languages drawn at
`--temperature` (`Splits.training_pairs`, as a recipe's training reads them),
each in its own process, and prints the time, the peak memory and the
languages' shares that came out. The resampled stream reads each pass once, so its
cost should stay near the plain stream's.

    python bench/language_mix.py --lang da,de,fr,it,pt_BR --temperature 5
"""

import argparse
import collections
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def read(lang, temperature, batches, version):
    """Reads `batches` batches of 256 pairs; prints one result line."""
    from s2s_keras.data.pairs import open_splits
    from s2s_keras.special_tokens import leading_target_tag
    from s2s_keras.training.config import DataConfig

    config = DataConfig(
        corpus="debian_translations",
        corpus_options={"lang": lang},
        test_version=version,
        language_temperature=temperature,
    )
    pairs = open_splits(config).training_pairs(seed=0)
    start = time.perf_counter()
    tags = collections.Counter()
    for sources, _ in pairs.repeat().batch(256).take(batches).as_numpy_iterator():
        tags.update(leading_target_tag(source.decode()) for source in sources)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = sum(tags.values())
    shares = ", ".join(f"{tag} {count / total:.0%}" for tag, count in tags.items())
    print(
        f"| {temperature:g} | {total:,} | {seconds:.1f} | {peak:.0f} | {shares} |",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lang", default="da,de,fr,it,pt_BR", help="the corpus's languages"
    )
    parser.add_argument("--temperature", type=float, default=5.0)
    parser.add_argument("--batches", type=int, default=800, help="of 256 pairs")
    parser.add_argument("--version", default="2026-12-07", help="frozen test split")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)
    if args.one is not None:
        return read(args.lang, args.one, args.batches, args.version)
    print("| temperature | pairs read | seconds | peak RSS (MB) | languages out |")
    print("|---|---|---|---|---|")
    for temperature in (1.0, args.temperature):
        subprocess.run(
            [
                sys.executable,
                __file__,
                *(argv or sys.argv[1:]),
                "--one",
                str(temperature),
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
