"""Decoding speed: in-graph generation against what users would write instead.

Baselines, measured in the same run at the same sizes (vocabulary 8,000,
embedding 128, LSTM 256, source 60 tokens, 16 output tokens):

- keras.io `lstm_seq2seq` inference: an encoder model and a decoder step
  model, and a Python loop that calls `predict` once per output token;
- the same two models as an experienced user calls them: directly, each
  wrapped in a `tf.function` (traced once), the step in a Python loop. Most of
  the keras.io pattern's time is `predict`'s per-call overhead; this
  baseline has none of it, so the ratio against it is what running the
  whole search in one graph is worth;
- an eager Python loop over our own decoder's `step` (what the TensorFlow
  tutorial does).

Every method is forced to produce all 16 tokens (the `<EOS>` logit is pushed
down), so no method gains by stopping early. Reports sentences per second,
the median of several runs, and the ratios to the keras.io pattern and to
the `tf.function` step loop.

    python bench/decoding.py            # about 3 minutes on 2 cores
    python bench/decoding.py --quick    # smaller, for a smoke run
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
from s2s_keras.special_tokens import BOS_ID  # noqa: E402
from s2s_keras.special_tokens import EOS_ID  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocab-size", type=int, default=8000, help="vocabulary size")
    parser.add_argument("--units", type=int, default=256, help="LSTM units")
    parser.add_argument("--embedding-dim", type=int, default=128, help="embedding size")
    parser.add_argument("--source-length", type=int, default=60, help="source tokens")
    parser.add_argument("--target-length", type=int, default=16, help="output tokens")
    parser.add_argument(
        "--batch-sizes", default="1,64", help="comma-separated batch sizes"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure")
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 repeats")
    return parser.parse_args(argv)


def keras_io_models(vocab_size, embedding_dim, units):
    """The keras.io lstm_seq2seq inference models (with embeddings for ids)."""
    encoder_inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True)(
        encoder_inputs
    )
    _, state_h, state_c = keras.layers.LSTM(units, return_state=True)(embedded)
    encoder_model = keras.Model(encoder_inputs, [state_h, state_c])

    decoder_inputs = keras.Input((None,), dtype="int32")
    input_h, input_c = keras.Input((units,)), keras.Input((units,))
    decoder_embedding = keras.layers.Embedding(vocab_size, embedding_dim)
    decoder_lstm = keras.layers.LSTM(units, return_sequences=True, return_state=True)
    decoder_dense = keras.layers.Dense(vocab_size, activation="softmax")
    outputs, state_h, state_c = decoder_lstm(
        decoder_embedding(decoder_inputs), initial_state=[input_h, input_c]
    )
    decoder_model = keras.Model(
        [decoder_inputs, input_h, input_c], [decoder_dense(outputs), state_h, state_c]
    )
    return encoder_model, decoder_model


def keras_io_decode(encoder_model, decoder_model, source_ids, target_length):
    """keras.io's decode_sequence, batched: one `predict` call per token."""
    states = encoder_model.predict(source_ids, verbose=0)
    tokens = np.full((len(source_ids), 1), BOS_ID, "int32")
    outputs = []
    for _ in range(target_length):
        probabilities, h, c = decoder_model.predict([tokens, *states], verbose=0)
        tokens = probabilities[:, -1].argmax(-1).astype("int32")[:, None]
        outputs.append(tokens)
        states = [h, c]
    return np.concatenate(outputs, 1)


def compiled_step_decoder(encoder_model, decoder_model):
    """The keras.io models called directly, each in a `tf.function`.

    Returns a function `(source_ids, target_length) -> ids` with a Python
    loop over the tokens, as an experienced user writes it. (The encoder
    called eagerly would take most of the time: about 0.3 s for 60 tokens.)
    """

    @tf.function(reduce_retracing=True)
    def encode(source_ids):
        return encoder_model(source_ids, training=False)

    @tf.function(reduce_retracing=True)
    def step(tokens, state_h, state_c):
        probabilities, state_h, state_c = decoder_model(
            [tokens, state_h, state_c], training=False
        )
        tokens = tf.argmax(probabilities[:, -1], -1, output_type=tf.int32)
        return tokens[:, None], state_h, state_c

    def decode(source_ids, target_length):
        state_h, state_c = encode(source_ids)
        tokens = tf.fill([len(source_ids), 1], BOS_ID)
        outputs = []
        for _ in range(target_length):
            tokens, state_h, state_c = step(tokens, state_h, state_c)
            outputs.append(tokens)
        return tf.concat(outputs, 1)

    return decode


def eager_decode(model, source_ids, target_length):
    """A Python loop over the decoder's step, eagerly (the tutorial pattern)."""
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    memory, memory_mask, final_states = encoder(source_ids)
    state = decoder.get_initial_state(final_states, memory)
    tokens = tf.fill([len(source_ids)], BOS_ID)
    outputs = []
    for _ in range(target_length):
        logits, state, _ = decoder.step(tokens, state, memory, memory_mask)
        tokens = tf.argmax(logits, -1, output_type=tf.int32)
        outputs.append(tokens)
    return tf.stack(outputs, 1)


def never_stop(model):
    """Push the <EOS> logit down so that every method makes all tokens."""
    bias = model.get_layer("decoder").output_projection.bias
    bias.assign(bias - 100.0 * tf.one_hot(EOS_ID, bias.shape[0]))


def median_seconds(function, repeats):
    function()  # warm-up: tracing and compilation are not timed
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    args = parse_args(argv)
    if args.quick:
        args.vocab_size, args.units, args.repeats = 1000, 64, 2
    keras.utils.set_random_seed(0)
    sizes = (args.vocab_size, args.embedding_dim, args.units)
    encoder_model, decoder_model = keras_io_models(*sizes)
    models = {
        "attention": build_seq2seq(*sizes[:1], *sizes, attention="dot"),
        "no attention": build_seq2seq(*sizes[:1], *sizes, attention=None),
    }
    for model in models.values():
        never_stop(model)
    print(
        f"vocab {args.vocab_size}, embedding {args.embedding_dim}, units {args.units}, "
        f"source {args.source_length}, output {args.target_length} tokens; "
        f"median of {args.repeats} runs\n"
    )
    compiled_step = compiled_step_decoder(encoder_model, decoder_model)
    print(
        "| batch | method | sentences/s | vs keras.io pattern | vs tf.function step "
        "loop |\n|---|---|---|---|---|"
    )
    rng = np.random.default_rng(0)
    for batch_size in [int(size) for size in args.batch_sizes.split(",")]:
        source_ids = rng.integers(
            4, args.vocab_size, (batch_size, args.source_length)
        ).astype("int32")
        rows = {
            "keras.io predict loop": lambda ids=source_ids: keras_io_decode(
                encoder_model, decoder_model, ids, args.target_length
            ),
            "tf.function step loop": lambda ids=source_ids: compiled_step(
                ids, args.target_length
            ),
            "eager step loop (attention)": lambda ids=source_ids: eager_decode(
                models["attention"], ids, args.target_length
            ),
        }
        for name, model in models.items():
            for method, options in [("greedy", {}), ("beam", {"beam_width": 4})]:
                generator = Generator(
                    model, max_length=args.target_length, method=method, **options
                )
                rows[f"s2s_keras {method}{'-4' if options else ''} ({name})"] = (
                    lambda generator=generator, ids=source_ids: generator(ids)
                )
        speeds = {
            name: batch_size / median_seconds(function, args.repeats)
            for name, function in rows.items()
        }
        for name, speed in speeds.items():
            print(
                f"| {batch_size} | {name} | {speed:,.1f} | "
                f"{speed / speeds['keras.io predict loop']:.1f}x | "
                f"{speed / speeds['tf.function step loop']:.1f}x |"
            )


if __name__ == "__main__":
    main()
