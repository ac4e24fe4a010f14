"""Lead-k baselines of the summarizer: the first k words of each description.

Scores lead-k for several k on the test pairs `recipes/summarize.py` scores
(the same corpus, split, order and count), so that its lead-7 row can be
read beside other cut-offs. Nothing is trained: a few seconds once the
corpus is prepared.

    python bench/lead_baselines.py
    python bench/lead_baselines.py --words 5,7,10,12 --eval-pairs 1000
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s2s_keras import metrics  # noqa: E402
from s2s_keras.data.pairs import open_splits  # noqa: E402
from s2s_keras.training.config import DataConfig  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--words", default="5,7,10,12", help="comma-separated k (default: %(default)s)"
    )
    parser.add_argument(
        "--eval-pairs", type=int, default=1000, help="test pairs, as the recipe's flag"
    )
    args = parser.parse_args(argv)
    splits = open_splits(
        DataConfig(corpus="debian_descriptions", eval_pairs=args.eval_pairs)
    )
    sources, references = zip(*splits.take("test"), strict=True)
    median = metrics.median_words([target for _, target in splits.sample()])
    print(f"\n{len(sources)} test pairs; median synopsis length {median} words\n")
    print("| baseline | rouge1 | rouge2 | rougeL |\n|---|---|---|---|")
    for k in [int(k) for k in args.words.split(",")]:
        scores = metrics.score("rouge", metrics.lead(sources, k), list(references))
        print(
            f"| lead-{k} | "
            + " | ".join(
                f"{scores[name]:.1f}" for name in ("rouge1", "rouge2", "rougeL")
            )
            + " |"
        )


if __name__ == "__main__":
    main()
