"""Training speed: `build_seq2seq` against the built-in Keras composite.

The composite is what a user would assemble from Keras' own layers:
Embedding + LSTM (encoder), Embedding + LSTM started from the encoder's
states (decoder), `keras.layers.Attention` over the encoder states, Dense on
[s_t; c_t]. Both models get the same sizes (vocabulary 8,000, embedding 128,
LSTM 256), the same synthetic batches (64 pairs, source 60, target 16, no
padding) and the same optimizer; the figure is target tokens per second of
`model.fit`, the median of several epochs after a warm-up epoch, by the wall
clock and per CPU-second; the models take turns epoch by epoch, so that slow
spells of the machine hit all alike.

    python bench/training.py            # about 4 minutes on 2 cores
    python bench/training.py --quick
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from s2s_keras import build_seq2seq  # noqa: E402


def composite(vocab_size, embedding_dim, units):
    """The built-in Keras layers, assembled the keras.io way (masks on)."""
    source = keras.Input((None,), dtype="int32", name="source_ids")
    target = keras.Input((None,), dtype="int32", name="target_ids")
    embedded = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True)(source)
    memory, h, c = keras.layers.LSTM(units, return_sequences=True, return_state=True)(
        embedded
    )
    queries = keras.layers.LSTM(units, return_sequences=True)(
        keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True)(target),
        initial_state=[h, c],
    )
    context = keras.layers.Attention()([queries, memory])
    logits = keras.layers.Dense(vocab_size)(
        keras.layers.Concatenate()([queries, context])
    )
    return keras.Model({"source_ids": source, "target_ids": target}, logits)


def timed_epochs(runs, epochs):
    """Wall and CPU seconds per epoch of each model, taking turns every epoch.

    Args:
        runs: dict of name -> `(model, batches)`; each epoch is one pass
            over its `batches`.
        epochs: int, timed epochs per model, after one untimed warm-up.

    Returns:
        dict of name -> `{"wall": [seconds], "cpu": [seconds]}`. Taking
        turns spreads slow spells of a shared machine over all models; CPU
        seconds (of this process, all threads) do not count time spent
        waiting, so they check the wall-clock figures.
    """
    for model, batches in runs.values():
        model.compile(
            keras.optimizers.Adam(1e-3),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        # Warm-up: tracing is not timed.
        model.fit(batches, epochs=1, verbose=0, shuffle=False)
    seconds = {name: {"wall": [], "cpu": []} for name in runs}
    for _ in range(epochs):
        for name, (model, batches) in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            model.fit(batches, epochs=1, verbose=0, shuffle=False)
            seconds[name]["wall"].append(time.perf_counter() - wall)
            seconds[name]["cpu"].append(time.process_time() - cpu)
    return seconds


def print_speeds(seconds, tokens):
    """A Markdown table of tokens/s (wall clock and per CPU second) and ratios.

    The first model is the baseline of the ratios.
    """
    print(
        "| model | target tokens/s | vs first | tokens per CPU-second | vs first |\n"
        "|---|---|---|---|---|"
    )
    baseline = None
    for name, times in seconds.items():
        speed = tokens / statistics.median(times["wall"])
        per_cpu = tokens / statistics.median(times["cpu"])
        baseline = baseline or (speed, per_cpu)
        print(
            f"| {name} | {speed:,.0f} | {speed / baseline[0]:.2f}x "
            f"| {per_cpu:,.0f} | {per_cpu / baseline[1]:.2f}x |",
            flush=True,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="batches per timed epoch")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per model")
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 epochs")
    args = parser.parse_args(argv)
    vocab_size, embedding_dim, units = (
        (1000, 32, 64) if args.quick else (8000, 128, 256)
    )
    batch_size, source_length, target_length = 64, 60, 16
    epochs = 2 if args.quick else args.epochs
    rng = np.random.default_rng(0)
    count = batch_size * args.steps
    inputs = {
        "source_ids": rng.integers(4, vocab_size, (count, source_length)).astype(
            "int32"
        ),
        "target_ids": rng.integers(4, vocab_size, (count, target_length)).astype(
            "int32"
        ),
    }
    labels = rng.integers(4, vocab_size, (count, target_length)).astype("int32")
    batches = (
        tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch_size).cache()
    )
    print(
        f"vocab {vocab_size}, embedding {embedding_dim}, units {units}, batch {batch_size}, "
        f"source {source_length}, target {target_length}; median of {epochs} epochs "
        f"of {args.steps} steps\n"
    )
    makers = {
        "built-in composite (Embedding + LSTM + keras.layers.Attention + Dense)": composite,
        "s2s_keras build_seq2seq, dot attention": lambda *sizes: build_seq2seq(
            sizes[0], *sizes, attention="dot"
        ),
        "s2s_keras build_seq2seq, no attention": lambda *sizes: build_seq2seq(
            sizes[0], *sizes, attention=None
        ),
    }
    runs = {}
    for name, make in makers.items():
        keras.utils.set_random_seed(0)
        runs[name] = (make(vocab_size, embedding_dim, units), batches)
    print_speeds(timed_epochs(runs, epochs), args.steps * batch_size * target_length)


if __name__ == "__main__":
    main()
