"""A multilingual translator against copying, and against a one-language one.

Scores a multilingual preset (or an export's model, `--preset ./path`) on
the frozen multilingual test split, language by language, beside copying
the source (BLEU and chrF); then, on the Italian pairs of that split, scores
a one-language translator into Italian (`--reference`, `translate_en_it`)
on the same pairs, untagged. The targets of the issue that asked for the
multilingual preset are checked and printed: each language at least the
copy baseline + 15 BLEU, Italian within 2 BLEU of the reference.

    python bench/multilingual.py --preset translate_en_multi
    python bench/multilingual.py --preset ./runs/multi --version latest --pairs 300
"""

import argparse
import collections
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s2s_keras import metrics  # noqa: E402
from s2s_keras import presets  # noqa: E402
from s2s_keras.data.frozen import frozen_test_pairs  # noqa: E402
from s2s_keras.special_tokens import leading_target_tag  # noqa: E402
from s2s_keras.special_tokens import without_target_tag  # noqa: E402
from s2s_keras.training import tasks  # noqa: E402

LANGUAGES = "da,de,fr,it,pt_BR"
MARGIN_OVER_COPY, ITALIAN_GAP = 15.0, 2.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="translate_en_multi")
    parser.add_argument("--reference", default="translate_en_it")
    parser.add_argument("--lang", default=LANGUAGES, help="the corpus's languages")
    parser.add_argument("--version", default="2026-12-07", help="frozen split")
    parser.add_argument(
        "--pairs", type=int, help="pairs of each language at most (default: all)"
    )
    args = parser.parse_args(argv)
    pairs = frozen_test_pairs("debian_translations", args.version, lang=args.lang)
    if args.pairs:  # the first of each language
        taken = collections.Counter()
        kept = []
        for source, target in pairs:
            taken[leading_target_tag(source)] += 1
            if taken[leading_target_tag(source)] <= args.pairs:
                kept.append((source, target))
        pairs = kept
    model = presets.load(args.preset)
    start = time.perf_counter()
    outputs = model([source for source, _ in pairs])
    seconds = time.perf_counter() - start
    task = tasks.get("translate")
    by_target = task.scores_by_target_tag([], pairs, outputs, "model")
    print(
        f"{args.preset} on {len(pairs)} frozen pairs of {args.version} ({seconds:.0f} s)\n"
    )
    print(
        "| target | pairs | copy BLEU | copy chrF | BLEU | chrF | BLEU over copy | target met |"
    )
    print("|---|---|---|---|---|---|---|---|")
    met = True
    for tag, rows in by_target.items():
        copy, scores = rows["copy source"], rows["model"]
        count = sum(leading_target_tag(source) == tag for source, _ in pairs)
        over = scores["bleu"] - copy["bleu"]
        met &= over >= MARGIN_OVER_COPY
        print(
            f"| `{tag}` | {count} | {copy['bleu']:.1f} | {copy['chrf']:.1f} | "
            f"{scores['bleu']:.1f} | {scores['chrf']:.1f} | {over:+.1f} | "
            f"{'yes' if over >= MARGIN_OVER_COPY else 'no'} |"
        )
    italian = [pair for pair in pairs if leading_target_tag(pair[0]) == "<2it>"]
    if italian and args.reference:
        reference = presets.load(args.reference)
        found = reference([without_target_tag(source) for source, _ in italian])
        theirs = metrics.score("bleu", found, [target for _, target in italian])
        ours = by_target["<2it>"]["model"]
        gap = theirs["bleu"] - ours["bleu"]
        met &= gap <= ITALIAN_GAP
        print(
            f"\nItalian, the same {len(italian)} pairs: {args.reference} BLEU "
            f"{theirs['bleu']:.1f} chrF {theirs['chrf']:.1f}; {args.preset} BLEU "
            f"{ours['bleu']:.1f} chrF {ours['chrf']:.1f}: {gap:+.1f} BLEU behind "
            f"(target: at most {ITALIAN_GAP:g})"
        )
    print(f"\nEvery target met: {'yes' if met else 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
