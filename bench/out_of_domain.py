"""A summarizer in and out of domain: Debian's test pairs and Python packages'.

Scores a preset (or an export folder's model, `--preset ./path`) with its
own decoding settings on two frozen sets, beside the lead-k baseline (the
first k words of the source) for k = 10 and the median summary length:

- `debian_descriptions`' frozen test pairs (the domain it was trained in);
- `python_summaries`, Python packages' long descriptions against their
  `Summary:` lines (`s2s_keras/data/python_summaries.py`): never trained on.

Also counts the outputs that hold an invented word: a word (letters only,
case folded) found neither in the output's source nor in any source or
summary of the preset's training corpus's train split. With
`--known-words-only` the preset also decodes with that control (a row
"..., known words only"), from its own lexicon or, for a preset without
one, a lexicon of the same training text.

    python bench/out_of_domain.py                       # summarize_debian
    python bench/out_of_domain.py --known-words-only
    python bench/out_of_domain.py --preset ./saved_models/summarize --version latest
"""

import argparse
import os
import re
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s2s_keras import metrics  # noqa: E402
from s2s_keras import presets  # noqa: E402
from s2s_keras.data.frozen import frozen_test_pairs  # noqa: E402
from s2s_keras.decoding import Lexicon  # noqa: E402

WORD = re.compile(r"[^\W\d_]+")


def words(text):
    return {word.casefold() for word in WORD.findall(text)}


def training_texts(corpus="debian_descriptions"):
    """The corpus's training sources and targets, as strings."""
    from s2s_keras.data.corpora import load_corpus

    texts = []
    for source, target in load_corpus(corpus, "train").as_numpy_iterator():
        texts += [source.decode("utf-8"), target.decode("utf-8")]
    return texts


def known_words(texts):
    """Every word of `texts`."""
    known = set()
    for text in texts:
        known |= words(text)
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
    parser.add_argument(
        "--known-words-only",
        action="store_true",
        help="also decode with known_words_only (a row of its own)",
    )
    args = parser.parse_args(argv)
    preset = presets.load(args.preset)
    texts = None if args.no_invented and not args.known_words_only else training_texts()
    if args.known_words_only and preset.lexicon is None:
        print(
            "The preset has no lexicon: one of its training text ...", file=sys.stderr
        )
        preset.lexicon = Lexicon.from_texts(preset.tokenizer, texts)
    sets = {
        "Debian test pairs (in domain)": frozen_test_pairs(
            "debian_descriptions", args.version
        ),
        "Python packages (out of domain)": frozen_test_pairs(
            "python_summaries", args.version
        ),
    }
    known = None if args.no_invented else known_words(texts)
    runs = [(args.preset, preset.generation.known_words_only)]  # (system, setting)
    if args.known_words_only:
        runs = [(args.preset, False), (f"{args.preset}, known words only", True)]
    median = metrics.median_words(
        [target for _, target in sets["Debian test pairs (in domain)"]]
    )
    print(
        "| set | pairs | system | ROUGE-1 | ROUGE-2 | ROUGE-L | invented words "
        "| seconds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, pairs in sets.items():
        sources = [source for source, _ in pairs]
        references = [target for _, target in pairs]
        systems = {f"lead-{k}": metrics.lead(sources, k) for k in sorted({10, median})}
        seconds = {}
        print(f"Generating {len(pairs)} outputs for {name} ...", file=sys.stderr)
        for _, known_only in runs:
            preset.generate(sources[:8], known_words_only=known_only)  # traced first
        for system, known_only in runs:
            start = time.perf_counter()
            systems[system] = preset.generate(sources, known_words_only=known_only)
            seconds[system] = f"{time.perf_counter() - start:.1f}"
        for system, outputs in systems.items():
            scores = metrics.rouge(outputs, references)
            share = "" if known is None else f"{invented(outputs, sources, known):.1%}"
            print(
                f"| {name} | {len(pairs)} | {system} | {scores['rouge1']:.1f} "
                f"| {scores['rouge2']:.1f} | {scores['rougeL']:.1f} | {share} "
                f"| {seconds.get(system, '')} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
