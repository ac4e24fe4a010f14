"""A summarizer in and out of domain: Debian's test pairs and Python packages'.

Scores a preset (or an export folder's model, `--preset ./path`) with its
own decoding settings on two frozen sets, beside the lead-k baseline (the
first k words of the source) for k = 10 and the median summary length:

- `debian_descriptions`' frozen test pairs (the domain it was trained in);
- `python_summaries`, Python packages' long descriptions against their
  `Summary:` lines (`s2s_keras/data/python_summaries.py`): never trained on.

Also counts the outputs that hold an invented word: a word (letters only,
case folded) found neither in the output's source nor in any source or
summary of the preset's training corpus's train split.

    python bench/out_of_domain.py                       # summarize_debian
    python bench/out_of_domain.py --preset ./saved_models/summarize --version latest
"""

import argparse
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s2s_keras import metrics  # noqa: E402
from s2s_keras import presets  # noqa: E402
from s2s_keras.data.frozen import frozen_test_pairs  # noqa: E402

WORD = re.compile(r"[^\W\d_]+")


def words(text):
    return {word.casefold() for word in WORD.findall(text)}


def known_words(corpus="debian_descriptions"):
    """Every word of the corpus's training sources and targets."""
    from s2s_keras.data.corpora import load_corpus

    known = set()
    for source, target in load_corpus(corpus, "train").as_numpy_iterator():
        known |= words(source.decode("utf-8")) | words(target.decode("utf-8"))
    return known


def invented(outputs, sources, known):
    """The share of outputs with a word in neither their source nor `known`."""
    with_invented = [
        bool(words(output) - words(source) - known)
        for output, source in zip(outputs, sources, strict=True)
    ]
    return sum(with_invented) / max(1, len(with_invented))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--preset", default="summarize_debian")
    parser.add_argument(
        "--version", default="2026-12-03", help="the frozen sets' version"
    )
    parser.add_argument(
        "--no-invented", action="store_true", help="skip counting invented words"
    )
    args = parser.parse_args(argv)
    preset = presets.load(args.preset)
    sets = {
        "Debian test pairs (in domain)": frozen_test_pairs(
            "debian_descriptions", args.version
        ),
        "Python packages (out of domain)": frozen_test_pairs(
            "python_summaries", args.version
        ),
    }
    known = None if args.no_invented else known_words()
    median = metrics.median_words(
        [target for _, target in sets["Debian test pairs (in domain)"]]
    )
    print("| set | pairs | system | ROUGE-1 | ROUGE-2 | ROUGE-L | invented words |")
    print("|---|---|---|---|---|---|---|")
    for name, pairs in sets.items():
        sources = [source for source, _ in pairs]
        references = [target for _, target in pairs]
        systems = {f"lead-{k}": metrics.lead(sources, k) for k in sorted({10, median})}
        print(f"Generating {len(pairs)} outputs for {name} ...", file=sys.stderr)
        systems[args.preset] = preset(sources)
        for system, outputs in systems.items():
            scores = metrics.rouge(outputs, references)
            share = "" if known is None else f"{invented(outputs, sources, known):.1%}"
            print(
                f"| {name} | {len(pairs)} | {system} | {scores['rouge1']:.1f} "
                f"| {scores['rouge2']:.1f} | {scores['rougeL']:.1f} | {share} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
