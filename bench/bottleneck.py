"""The bottleneck study: attention against one context vector, by source length.

The lesson's claim, measured the way Bahdanau et al. (2015, figure 2) plot
BLEU against sentence length: a seq2seq whose decoder sees the source only
through (h_S, c_S) loses more as the source grows; with attention it reads
every h_i and holds up.

The task is copying random token sequences of 5 to 100 tokens (the target
is the source): it needs every source token, so it isolates what reaches
the decoder. Both models have the same sizes, the same data and the same
training time; they are scored by greedy decoding on held-out sequences,
as token accuracy (position by position) per source-length bin.

    python bench/bottleneck.py                  # about 12 minutes on 2 cores
    python bench/bottleneck.py --minutes 1      # a quick look
    python bench/bottleneck.py --plot docs/bottleneck.png
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from s2s_keras import build_seq2seq  # noqa: E402
from s2s_keras.decoding import generate  # noqa: E402
from s2s_keras.special_tokens import BOS_ID  # noqa: E402
from s2s_keras.special_tokens import EOS_ID  # noqa: E402

BINS = [(5, 10), (11, 20), (21, 40), (41, 60), (61, 80), (81, 100)]


def study_parser(doc, minutes, measure):
    """The flags every bottleneck study has: training time, seed, plot."""
    parser = argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        epilog=f"Prints a Markdown table of {measure} per length bin.",
    )
    parser.add_argument(
        "--minutes", type=float, default=minutes, help="training time per model"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--plot", default=None, help="write the figure to this PNG file"
    )
    return parser


def parse_args(argv=None):
    parser = study_parser(__doc__, 5.0, "token accuracy")
    parser.add_argument(
        "--vocab-size", type=int, default=24, help="token ids (4 are special)"
    )
    parser.add_argument("--units", type=int, default=128, help="LSTM units")
    parser.add_argument("--embedding-dim", type=int, default=32, help="embedding size")
    parser.add_argument(
        "--batch-size", type=int, default=64, help="sequences per batch"
    )
    parser.add_argument(
        "--test-per-bin", type=int, default=64, help="held-out sequences per bin"
    )
    return parser.parse_args(argv)


def random_sequences(rng, count, vocab_size, low=5, high=100):
    lengths = rng.integers(low, high + 1, count)
    return [rng.integers(4, vocab_size, length).astype("int32") for length in lengths]


def copy_batches(sequences, batch_size, rng):
    """Length-sorted batches (little padding), in a shuffled order, forever."""
    order = np.argsort([len(s) for s in sequences], kind="stable")
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    while True:
        for chunk in rng.permutation(len(chunks)):
            rows = [sequences[i] for i in chunks[chunk]]
            width = max(len(row) for row in rows)
            source = np.zeros((len(rows), width), "int32")
            target_in = np.zeros((len(rows), width + 1), "int32")
            labels = np.zeros((len(rows), width + 1), "int32")
            for r, row in enumerate(rows):
                source[r, : len(row)] = row
                target_in[r, : len(row) + 1] = [BOS_ID, *row]
                labels[r, : len(row) + 1] = [*row, EOS_ID]
            yield {"source_ids": source, "target_ids": target_in}, labels


class StopAfter(keras.callbacks.Callback):
    def __init__(self, minutes):
        super().__init__()
        self.seconds = minutes * 60.0

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self.start > self.seconds:
            self.model.stop_training = True


def train(attention, sequences, args):
    keras.utils.set_random_seed(args.seed)
    model = build_seq2seq(
        args.vocab_size,
        args.vocab_size,
        embedding_dim=args.embedding_dim,
        units=args.units,
        attention=attention,
    )
    model.compile(
        keras.optimizers.Adam(2e-3, clipnorm=1.0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    spec = (
        {
            "source_ids": tf.TensorSpec([None, None], tf.int32),
            "target_ids": tf.TensorSpec([None, None], tf.int32),
        },
        tf.TensorSpec([None, None], tf.int32),
    )
    rng = np.random.default_rng(args.seed)
    dataset = tf.data.Dataset.from_generator(
        lambda: copy_batches(sequences, args.batch_size, rng), output_signature=spec
    ).prefetch(2)
    history = model.fit(
        dataset,
        steps_per_epoch=50,
        epochs=10_000,
        callbacks=[StopAfter(args.minutes)],
        verbose=0,
        shuffle=False,  # fresh random batches every step
    )
    steps = 50 * len(history.history["loss"])
    return model, steps, history.history["loss"][-1]


def accuracy_by_bin(model, test, args):
    """Token accuracy of greedy copies, per length bin."""
    scores = []
    for (_, high), sequences in zip(BINS, test, strict=True):
        width = max(len(s) for s in sequences)
        source = np.zeros((len(sequences), width), "int32")
        for r, row in enumerate(sequences):
            source[r, : len(row)] = row
        output = np.asarray(generate(model, source, max_length=high + 5)["target_ids"])
        correct = total = 0
        for row, out in zip(sequences, output, strict=True):
            out = np.pad(out, (0, max(0, len(row) - len(out))))[: len(row)]
            correct += int((out == row).sum())
            total += len(row)
        scores.append(100.0 * correct / total)
    return scores


def plot_by_length(results, ticks, path, xlabel, ylabel, title, top=None):
    """One line a model: its score (results[name]) at each length bin (ticks)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.6))
    for name, scores in results.items():
        axis.plot(ticks, scores, marker="o", label=name)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_ylim(0, top)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def print_by_length(results, labels, counts=None):
    """A Markdown table: a row a length bin, a column a model."""
    counts_header = " pairs |" if counts else ""
    print(f"| source length |{counts_header} " + " | ".join(results) + " |")
    print("|---" * (len(results) + 1 + bool(counts)) + "|")
    for i, label in enumerate(labels):
        cells = " | ".join(f"{scores[i]:.1f}" for scores in results.values())
        count = f" {counts[i]:,} |" if counts else ""
        print(f"| {label} |{count} {cells} |")


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    sequences = random_sequences(rng, 20_000, args.vocab_size)
    test = [
        random_sequences(rng, args.test_per_bin, args.vocab_size, low, high)
        for low, high in BINS
    ]
    results, notes = {}, []
    for name, attention in [("no attention", None), ("dot attention", "dot")]:
        model, steps, loss = train(attention, sequences, args)
        results[name] = accuracy_by_bin(model, test, args)
        notes.append(
            f"{name}: {steps} steps in {args.minutes:g} minutes, final loss {loss:.3f}"
        )
    print_by_length(results, [f"{low}-{high}" for low, high in BINS])
    for note in notes:
        print(note)
    if args.plot:
        plot_by_length(
            results,
            [(low + high) / 2 for low, high in BINS],
            args.plot,
            xlabel="source length (tokens)",
            ylabel="token accuracy of the copy (%)",
            title="Copying random sequences: one vector vs attention",
            top=100,
        )
        print(f"Plot: {args.plot}")
    return results


if __name__ == "__main__":
    main()
