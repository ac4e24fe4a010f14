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
import pathlib
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from bottleneck import plot_by_length  # noqa: E402
from bottleneck import print_by_length  # noqa: E402
from bottleneck import study_parser  # noqa: E402

from s2s_keras import metrics  # noqa: E402
from s2s_keras.data.pairs import open_splits  # noqa: E402
from s2s_keras.data.pairs import tokenizer_for  # noqa: E402
from s2s_keras.models import build_seq2seq  # noqa: E402
from s2s_keras.models import compile_seq2seq  # noqa: E402
from s2s_keras.training.config import DataConfig  # noqa: E402
from s2s_keras.training.config import GenerationConfig  # noqa: E402
from s2s_keras.training.config import ModelConfig  # noqa: E402
from s2s_keras.training.config import TrainingConfig  # noqa: E402
from s2s_keras.training.evaluation import generate_texts  # noqa: E402
from s2s_keras.training.runner import Runner  # noqa: E402

BINS = [(1, 5), (6, 10), (11, 20), (21, 30), (31, 45), (46, 80)]


def parse_args(argv=None):
    parser = study_parser(__doc__, 8.0, "BLEU")
    parser.add_argument("--lang", default="it", help="target language")
    return parser.parse_args(argv)


# The translate recipe's settings for this study (sources up to 80 words fit).
MAX_SOURCE_LENGTH, MAX_TARGET_LENGTH, VOCAB_SIZE = 160, 192, 4000


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
    data = DataConfig(
        corpus="debian_translations",
        corpus_options={"lang": args.lang},
        eval_pairs=100000,
        vocab_size=VOCAB_SIZE,
        max_source_length=MAX_SOURCE_LENGTH,
        max_target_length=MAX_TARGET_LENGTH,
    )
    training = TrainingConfig(time_budget=args.minutes, seed=args.seed)
    generation = GenerationConfig(max_length=MAX_TARGET_LENGTH)
    lengths = {
        "max_source_length": MAX_SOURCE_LENGTH,
        "max_target_length": MAX_TARGET_LENGTH,
    }
    with tempfile.TemporaryDirectory() as output:
        output = pathlib.Path(output)
        runner = Runner(output, training)
        keras.utils.set_random_seed(args.seed)
        splits = open_splits(data)
        test = [
            pair for pair in splits.take("test") if len(pair[0].split()) <= BINS[-1][1]
        ]
        sources, references = (list(side) for side in zip(*test, strict=True))
        tokenizer = tokenizer_for(
            output / "tokenizer", splits.sample(), VOCAB_SIZE, args.seed
        )
        steps = splits.steps_per_epoch(training.batch_size)
        train = splits.batches(
            "train", tokenizer, **lengths, repeat=True, seed=args.seed
        )
        validation = splits.batches("validation", tokenizer, **lengths)
        results, notes = {}, []
        for name, attention in [("no attention", None), ("dot attention", "dot")]:
            keras.utils.set_random_seed(args.seed)
            model = build_seq2seq(
                tokenizer.vocab_size,
                tokenizer.vocab_size,
                **ModelConfig().build_arguments(attention),
            )
            compile_seq2seq(model, training.learning_rate)
            run = runner.training_run(attention or "none", model)
            trained = run.fit(train, validation, training.epochs, steps)
            outputs = generate_texts(
                trained.model, tokenizer, sources, generation, MAX_SOURCE_LENGTH
            )
            results[name], counts = bleu_by_bin(sources, outputs, references)
            overall = metrics.bleu(outputs, references)["bleu"]
            history = trained.history
            notes.append(
                f"{name}: {trained.minutes:.1f} minutes of training, epochs begun: "
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
