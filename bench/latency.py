"""One sentence on a device: the TFLite file against the SavedModel.

Both hold the same greedy decoding of the same model (the summarizer's
sizes: vocabulary 4,000, embedding 128, LSTM 256) and take token ids:
the SavedModel's `generate_ids` signature and `model.tflite` (run with
`ai_edge_litert`, XNNPACK on, as a phone would). A source of 60 tokens, 16
output tokens (the `<EOS>` logit is pushed down so both make all 16).
Reports the median latency of many single-sentence calls after a warm-up.

    python bench/latency.py            # about 2 minutes on 2 cores
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from s2s_keras import build_seq2seq  # noqa: E402
from s2s_keras.export import convert_to_tflite  # noqa: E402
from s2s_keras.export.saved_model import Seq2SeqServer  # noqa: E402
from s2s_keras.export.saved_model import export_saved_model  # noqa: E402
from s2s_keras.special_tokens import EOS_ID  # noqa: E402
from s2s_keras.text import SubwordTokenizer  # noqa: E402


def median_ms(call, repeats):
    call()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocab-size", type=int, default=4000, help="vocabulary size")
    parser.add_argument("--units", type=int, default=256, help="LSTM units")
    parser.add_argument("--embedding-dim", type=int, default=128, help="embedding size")
    parser.add_argument("--source-length", type=int, default=60, help="source tokens")
    parser.add_argument("--max-length", type=int, default=16, help="output tokens")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls")
    parser.add_argument(
        "--copy", action="store_true", help="the copy (pointer-generator) model"
    )
    args = parser.parse_args(argv)

    model = build_seq2seq(
        args.vocab_size,
        args.vocab_size,
        args.embedding_dim,
        args.units,
        copy=args.copy,
    )
    bias = model.get_layer("decoder").output_projection.bias
    bias.assign(bias.numpy() - 1e4 * np.eye(args.vocab_size)[EOS_ID])  # no early stop
    source_ids = (
        np.random.default_rng(0)
        .integers(4, args.vocab_size, (1, args.source_length))
        .astype("int32")
    )

    folder = tempfile.mkdtemp()
    words = [f"word{i}" for i in range(400)]
    tokenizer = SubwordTokenizer.train(
        [" ".join(words[i : i + 9]) for i in range(390)], vocab_size=320
    )  # the signatures that take text need one; this bench uses ids only
    server = Seq2SeqServer(
        model,
        tokenizer,
        tokenizer,
        max_source_length=args.source_length,
        max_length=args.max_length,
    )
    export_saved_model(server, f"{folder}/saved_model")
    served = tf.saved_model.load(f"{folder}/saved_model").signatures["generate_ids"]

    from ai_edge_litert.interpreter import Interpreter

    flatbuffer = convert_to_tflite(model, args.source_length, args.max_length)
    runner = Interpreter(model_content=flatbuffer).get_signature_runner(
        "serving_default"
    )

    saved_ms = median_ms(
        lambda: served(source_ids=tf.constant(source_ids)), args.repeats
    )
    tflite_ms = median_ms(lambda: runner(source_ids=source_ids), args.repeats)
    flavour = "copy attention" if args.copy else "dot attention"
    print(
        f"{flavour}: vocab {args.vocab_size}, embedding {args.embedding_dim}, "
        f"units {args.units}, source {args.source_length}, {args.max_length} output "
        f"tokens, median of {args.repeats} calls\n\n"
        "| runtime | ms per sentence | vs SavedModel |\n|---|---|---|\n"
        f"| SavedModel `generate_ids` (TensorFlow) | {saved_ms:.1f} | 1.00x |\n"
        f"| `model.tflite` (ai_edge_litert, XNNPACK) | {tflite_ms:.1f} | "
        f"{saved_ms / tflite_ms:.2f}x faster |\n"
        f"\nTFLite file: {len(flatbuffer) / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
