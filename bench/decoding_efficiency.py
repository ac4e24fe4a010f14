"""Decoding efficiency: generation's time against a teacher-forced forward pass.

A forward pass over a batch of targets is the least a decoder can spend on
those tokens: every step's work at once, no search. Generation makes the same
tokens one step at a time, in one `tf.while_loop`, and with beam search keeps
`beam_width` hypotheses a source. The efficiency is

    forward seconds / generation seconds,   over the same rows and tokens

(for beam search, the forward pass runs over every hypothesis: sources x
beam width rows). 1.0 means the search costs nothing beyond the model's own
steps; the target is >= 0.9, greedy and beam.

Model: the default summarizer's (copy + coverage, vocabulary 4,000,
embedding 128, LSTM 256), random weights, `<EOS>` pushed down so that every
output has all its tokens; source 96 tokens, 24 output tokens. Each figure is
the median of several timed runs after a warm-up that traces.

    python bench/decoding_efficiency.py          # about 2 minutes on 2 cores
    python bench/decoding_efficiency.py --quick
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from decoding import median_seconds  # noqa: E402
from decoding import never_stop  # noqa: E402

from s2s_keras import build_seq2seq  # noqa: E402
from s2s_keras.decoding import Generator  # noqa: E402
from s2s_keras.special_tokens import BOS_ID  # noqa: E402

TARGET = 0.9


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Prints a Markdown table: rows, tokens, seconds and the efficiency.",
    )
    parser.add_argument("--vocab-size", type=int, default=4000, help="vocabulary size")
    parser.add_argument("--units", type=int, default=256, help="LSTM units")
    parser.add_argument("--embedding-dim", type=int, default=128, help="embedding size")
    parser.add_argument("--source-length", type=int, default=96, help="source tokens")
    parser.add_argument("--target-length", type=int, default=24, help="output tokens")
    parser.add_argument("--greedy-rows", type=int, default=256, help="greedy: sources")
    parser.add_argument("--beam-rows", type=int, default=64, help="beam: sources")
    parser.add_argument("--beam-width", type=int, default=4, help="beam width")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per figure")
    parser.add_argument("--plain", action="store_true", help="dot attention only")
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 repeats")
    return parser.parse_args(argv)


def forward_pass(model):
    """The teacher-forced forward pass as one traced call, as generation is."""
    return tf.function(
        lambda source_ids, target_ids: model(
            {"source_ids": source_ids, "target_ids": target_ids}, training=False
        )
    )


def measure(model, source_ids, target_length, vocab_size, repeats, **settings):
    """`(forward seconds, generation seconds)` over the same rows and tokens."""
    generator = Generator(model, max_length=target_length, **settings)
    rows = source_ids.shape[0] * settings.get("beam_width", 1)
    sources = tf.repeat(source_ids, settings.get("beam_width", 1), axis=0)
    generated = generator(source_ids)["target_ids"]
    assert generated.shape[-1] == target_length, generated.shape  # every token made
    rng = np.random.default_rng(2)
    targets = rng.integers(4, vocab_size, (rows, target_length))
    targets[:, 0] = BOS_ID
    targets = tf.constant(targets.astype("int32"))
    forward = forward_pass(model)
    forward_seconds = median_seconds(lambda: forward(sources, targets).numpy(), repeats)
    generate_seconds = median_seconds(
        lambda: generator(source_ids)["target_ids"].numpy(), repeats
    )
    return forward_seconds, generate_seconds


def main(argv=None):
    args = parse_args(argv)
    if args.quick:
        args.greedy_rows, args.beam_rows, args.repeats = 32, 8, 2
    keras.utils.set_random_seed(0)
    options = {} if args.plain else {"copy": True, "coverage": True}
    model = build_seq2seq(
        args.vocab_size, args.vocab_size, args.embedding_dim, args.units, **options
    )
    never_stop(model)
    rng = np.random.default_rng(1)
    shape = (max(args.greedy_rows, args.beam_rows), args.source_length)
    sources = tf.constant(rng.integers(4, args.vocab_size, shape).astype("int32"))
    name = "dot attention" if args.plain else "copy + coverage (the default)"
    print(
        f"{name}: vocabulary {args.vocab_size}, embedding {args.embedding_dim}, "
        f"LSTM {args.units}, source {args.source_length}, {args.target_length} "
        f"output tokens; median of {args.repeats}\n"
    )
    print(
        "| decoding | rows x tokens | forward pass (s) | generation (s) | efficiency |"
    )
    print("|---|---|---|---|---|")
    missed = []
    for label, rows, settings in [
        ("greedy", args.greedy_rows, {"method": "greedy"}),
        (
            f"beam {args.beam_width}",
            args.beam_rows,
            {"method": "beam", "beam_width": args.beam_width},
        ),
    ]:
        forward, generate = measure(
            model,
            sources[:rows],
            args.target_length,
            args.vocab_size,
            args.repeats,
            **settings,
        )
        efficiency = forward / generate
        if efficiency < TARGET:
            missed.append(label)
        hypotheses = rows * settings.get("beam_width", 1)
        print(
            f"| {label}, {rows} sources | {hypotheses} x {args.target_length} | "
            f"{forward:.3f} | {generate:.3f} | {efficiency:.2f} |"
        )
    print(
        f"\nTarget: efficiency >= {TARGET}: "
        + (f"missed by {missed}" if missed else "met")
    )


if __name__ == "__main__":
    main()
