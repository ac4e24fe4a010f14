"""How close to the machine, and how cost grows with source length and batch.

1. The machine's dense float32 matmul rate (`tf.matmul` of 1024 x 1024
   matrices, the best of several runs): the ceiling for this kind of model.
2. The FLOPs a training step and a greedy decoding need, counted from the
   model's sizes (a multiply-add is 2 FLOPs; the backward pass costs twice
   the forward), divided by the measured time: achieved FLOP/s, and its
   share of the ceiling.
3. Seconds per training step against source length and against batch size.

Sizes: the summarizer's (vocabulary 4,000, embedding 128, LSTM 256, dot
attention), target 16 tokens, synthetic ids without padding.

    python bench/cost.py            # about 5 minutes on 2 cores
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
from s2s_keras.decoding import Generator  # noqa: E402
from s2s_keras.special_tokens import EOS_ID  # noqa: E402


def matmul_flops_per_second(size=1024, repeats=20):
    a = tf.random.normal([size, size])
    b = tf.random.normal([size, size])
    product = tf.function(lambda a, b: tf.matmul(a, b))
    product(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best


def forward_flops(batch, source, target, vocab, embedding, units):
    """Multiply-adds x 2 of one teacher-forced forward pass (embeddings free)."""
    lstm = 2 * 4 * units * (embedding + units)  # per token: 4 gates
    attention = 2 * 2 * source * units  # per target token: scores, then context
    projection = 2 * (2 * units) * vocab  # per target token: W [s; c]
    return batch * (source * lstm + target * (lstm + attention + projection))


def seconds_per_step(model, batch, source, target, vocab, steps):
    rng = np.random.default_rng(0)
    inputs = {
        "source_ids": rng.integers(4, vocab, (batch * steps, source)).astype("int32"),
        "target_ids": rng.integers(4, vocab, (batch * steps, target)).astype("int32"),
    }
    labels = rng.integers(4, vocab, (batch * steps, target)).astype("int32")
    data = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch).cache()
    model.fit(data.take(2), epochs=1, verbose=0, shuffle=False)  # tracing, not timed
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model.fit(data, epochs=1, verbose=0, shuffle=False)
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


def new_model(vocab, embedding, units):
    keras.utils.set_random_seed(0)
    model = build_seq2seq(vocab, vocab, embedding, units)
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocab-size", type=int, default=4000)
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8, help="batches per timed epoch")
    args = parser.parse_args(argv)
    vocab, embedding, units, target = (
        args.vocab_size,
        args.embedding_dim,
        args.units,
        16,
    )

    peak = matmul_flops_per_second()
    print(f"Dense float32 matmul (1024 x 1024): {peak / 1e9:.1f} GFLOP/s\n")

    model = new_model(vocab, embedding, units)
    batch, source = 64, 60
    step = seconds_per_step(model, batch, source, target, vocab, args.steps)
    train_flops = 3 * forward_flops(batch, source, target, vocab, embedding, units)

    bias = model.get_layer("decoder").output_projection.bias
    bias.assign(bias.numpy() - 1e4 * np.eye(vocab)[EOS_ID])  # all 16 tokens
    generator = Generator(model, max_length=target)
    source_ids = tf.constant(
        np.random.default_rng(1).integers(4, vocab, (batch, source)).astype("int32")
    )
    generator(source_ids)
    decode_times = []
    for _ in range(5):
        start = time.perf_counter()
        generator(source_ids)["target_ids"].numpy()
        decode_times.append(time.perf_counter() - start)
    decode = statistics.median(decode_times)
    decode_flops = forward_flops(batch, source, target, vocab, embedding, units)

    print(
        "| work (batch 64, source 60, 16 target tokens) | GFLOP | seconds | GFLOP/s | share of matmul peak |"
    )
    print("|---|---|---|---|---|")
    for name, flops, seconds in [
        ("training step (forward + backward)", train_flops, step),
        ("greedy decoding of the batch", decode_flops, decode),
    ]:
        rate = flops / seconds
        print(
            f"| {name} | {flops / 1e9:.2f} | {seconds:.3f} | {rate / 1e9:.1f} "
            f"| {100 * rate / peak:.0f}% |"
        )

    print(
        "\n| source length (batch 64) | seconds per training step | per source token (ms) |"
    )
    print("|---|---|---|")
    for source in (15, 30, 60, 120, 240):
        seconds = seconds_per_step(
            new_model(vocab, embedding, units), 64, source, target, vocab, args.steps
        )
        print(
            f"| {source} | {seconds:.3f} | {1000 * seconds / source:.2f} |", flush=True
        )

    print("\n| batch size (source 60) | seconds per training step | target tokens/s |")
    print("|---|---|---|")
    for batch in (8, 16, 32, 64, 128, 256):
        seconds = seconds_per_step(
            new_model(vocab, embedding, units), batch, 60, target, vocab, args.steps
        )
        print(
            f"| {batch} | {seconds:.3f} | {batch * target / seconds:,.0f} |", flush=True
        )


if __name__ == "__main__":
    main()
