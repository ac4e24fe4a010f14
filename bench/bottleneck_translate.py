"""The bottleneck on real text: BLEU against source length, with and without attention.

Bahdanau et al. (2015, figure 2) plot BLEU against sentence length for an
encoder-decoder with and without attention. This does the same with the
translate recipe's data and plumbing: English -> Italian Debian descriptions
(`debian_translations`), one subword vocabulary, the same sizes and the
same training time for both models, greedy decoding of every test pair,
corpus BLEU (sacrebleu) per bin of source length in words.

    python bench/bottleneck_translate.py              # about 19 minutes on 2 cores
    python bench/bottleneck_translate.py --minutes 1  # a quick look
    python bench/bottleneck_translate.py --plot docs/bottleneck_translate.png
"""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bottleneck import plot_by_length  # noqa: E402
from bottleneck import print_by_length  # noqa: E402
from bottleneck import study_parser  # noqa: E402

from s2s_keras import metrics  # noqa: E402
from s2s_keras import recipe  # noqa: E402

BINS = [(1, 5), (6, 10), (11, 20), (21, 30), (31, 45), (46, 80)]


def parse_args(argv=None):
    parser = study_parser(__doc__, 8.0, "BLEU")
    parser.add_argument("--lang", default="it", help="target language")
    return parser.parse_args(argv)


def recipe_flags(args, output):
    """The translate recipe's flags for this study (sources up to 80 words fit)."""
    flags = (
        f"--time-budget {args.minutes} --vocab-size 4000 --max-source-length 160 "
        f"--max-target-length 192 --eval-pairs 100000 --seed {args.seed}"
    )
    return recipe.parse_args(
        [*flags.split(), "--output", output],
        __doc__,
        {"corpus": "debian_translations", "output": output},
    )


def bleu_by_bin(sources, outputs, references):
    """Corpus BLEU of the pairs in each bin, and how many pairs each holds."""
    scores, counts = [], []
    for low, high in BINS:
        rows = [
            (output, reference)
            for source, output, reference in zip(
                sources, outputs, references, strict=True
            )
            if low <= len(source.split()) <= high
        ]
        counts.append(len(rows))
        if not rows:  # no test pair of that length
            scores.append(float("nan"))
            continue
        hypotheses, bin_references = zip(*rows, strict=True)
        scores.append(metrics.bleu(list(hypotheses), list(bin_references))["bleu"])
    return scores, counts


def main(argv=None):
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as output:
        flags = recipe_flags(args, output)
        recipe.seed_everything(args.seed)
        pairs = recipe.load_splits(flags, lang=args.lang)
        test = [pair for pair in pairs["test"] if len(pair[0].split()) <= BINS[-1][1]]
        sources, references = (list(side) for side in zip(*test, strict=True))
        tokenizer = recipe.tokenizer_for(flags, pairs["train"])
        train = recipe.batches(flags, pairs["train"], tokenizer, shuffle=True)
        validation = recipe.batches(
            flags, pairs["validation"], tokenizer, shuffle=False
        )
        results, notes = {}, []
        for name, attention in [("no attention", None), ("dot attention", "dot")]:
            recipe.seed_everything(args.seed)
            model = recipe.build_model(flags, tokenizer.vocab_size, attention)
            history, minutes = recipe.fit(
                model, flags, train, validation, run_name=attention or "none"
            )
            outputs = recipe.generate_texts(model, tokenizer, sources, flags)
            results[name], counts = bleu_by_bin(sources, outputs, references)
            overall = metrics.bleu(outputs, references)["bleu"]
            notes.append(
                f"{name}: {minutes:.1f} minutes of training, epochs begun: "
                f"{len(history['loss'])}, final loss {history['loss'][-1]:.3f}, "
                f"BLEU of all {len(test)} test pairs {overall:.1f}"
            )
    labels = [f"{low}-{high} words" for low, high in BINS]
    print()
    print_by_length(results, labels, counts)
    for note in notes:
        print(note)
    if args.plot:
        plot_by_length(
            results,
            labels,
            args.plot,
            xlabel="source length (English words)",
            ylabel="BLEU",
            title="English to Italian: one vector vs attention",
        )
        print(f"Plot: {args.plot}")
    return results


if __name__ == "__main__":
    main()
