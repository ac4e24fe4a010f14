"""int8 weights against float32: size, latency and score of the default summarizer.

Reads an export of `recipes/summarize.py` (default `saved_models/summarize`),
writes it again twice into a temporary folder, as it is (float32) and with
`quantization="int8"` (`write_export`; the recipes' `--quantize int8`), and
compares the two:

- Keras (what the SavedModel and `model.keras` run): Keras' int8 Dense and
  Embedding layers (per-channel weight scales, activations quantized on the
  fly; the LSTMs stay float32). Size of `model.keras` and of the SavedModel,
  milliseconds per sentence of the export's own decoding in batches of 64,
  and ROUGE-1/2/L on the recipe's test pairs;
- TFLite (what a phone runs): dynamic-range int8 weights. Size of
  `model.tflite`, milliseconds per sentence (one sentence a call, the
  `beam_search` signature for a beam export, `serving_default` for greedy,
  run by `ai_edge_litert` with XNNPACK), and ROUGE on the same pairs.

    python bench/int8_inference.py --model saved_models/summarize
    python bench/int8_inference.py --model saved_models/summarize --eval-pairs 200
"""

import dataclasses
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402
from summarizer_test_pairs import TASK  # noqa: E402
from summarizer_test_pairs import parse_args  # noqa: E402
from summarizer_test_pairs import test_pairs  # noqa: E402

from s2s_keras import metrics  # noqa: E402
from s2s_keras.export import read_export  # noqa: E402
from s2s_keras.export import write_export  # noqa: E402
from s2s_keras.training.config import GenerationConfig  # noqa: E402
from s2s_keras.training.evaluation import generate_texts  # noqa: E402


def megabytes(path):
    path = pathlib.Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def keras_run(export, sources, references, generation, max_source_length):
    """ms per sentence (batches of 64, after a warm-up batch) and scores."""
    model, tokenizer = export["model"], export["tokenizer"]
    generate_texts(model, tokenizer, sources[:64], generation, max_source_length)
    began = time.perf_counter()
    outputs = generate_texts(model, tokenizer, sources, generation, max_source_length)
    milliseconds = 1000 * (time.perf_counter() - began) / len(sources)
    return milliseconds, metrics.score("rouge", outputs, references)


def tflite_run(directory, tokenizer, sources, references, max_source_length, beam):
    """ms per sentence (one sentence a call) and scores of `model.tflite`."""
    interpreter = Interpreter(str(directory / "model.tflite"))
    runner = interpreter.get_signature_runner(
        "beam_search" if beam else "serving_default"
    )
    ids = tokenizer.tokenize(sources)[:, :max_source_length]
    ids = ids.to_tensor(shape=(len(sources), max_source_length)).numpy()
    runner(source_ids=ids[:1].astype("int32"))  # warm-up
    outputs = []
    began = time.perf_counter()
    for row in ids:
        result = runner(source_ids=row[None].astype("int32"))
        best = result["target_ids"][0, 0] if beam else result["target_ids"][0]
        outputs.append(best)
    milliseconds = 1000 * (time.perf_counter() - began) / len(sources)
    texts = tokenizer.detokenize(np.stack(outputs)).numpy()
    texts = [text.decode("utf-8") for text in texts]
    return milliseconds, metrics.score("rouge", texts, references)


def main(argv=None):
    args = parse_args(__doc__, argv)
    task = TASK  # the summarizer
    source = read_export(args.model)
    settings = source["settings"]
    max_source_length = settings["max_source_length"]
    generator = dict(settings["generator"])
    target_prefix = generator.pop("target_prefix", "")
    fields = {field.name for field in dataclasses.fields(GenerationConfig)}
    generation = GenerationConfig(
        **{key: value for key, value in generator.items() if key in fields}
    )
    sources, references = test_pairs(args.eval_pairs)
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, quantization in (("float32", None), ("int8", "int8")):
            directory = pathlib.Path(folder) / name
            began = time.perf_counter()
            write_export(
                directory,
                source["model"],
                source["tokenizer"],
                max_source_length=max_source_length,
                quantization=quantization,
                target_prefix=target_prefix,
                **generator,
            )
            print(
                f"{name}: exported in {time.perf_counter() - began:.0f} s", flush=True
            )
            export = read_export(directory)
            keras_ms, keras_scores = keras_run(
                export, sources, references, generation, max_source_length
            )
            tflite_ms, tflite_scores = tflite_run(
                directory,
                export["tokenizer"],
                sources,
                references,
                max_source_length,
                beam=generation.method == "beam",
            )
            rows[name] = {
                "keras": (
                    megabytes(directory / "model.keras"),
                    megabytes(directory / "saved_model"),
                    keras_ms,
                    keras_scores,
                ),
                "tflite": (
                    megabytes(directory / "model.tflite"),
                    tflite_ms,
                    tflite_scores,
                ),
            }
            print(f"{name}: measured", flush=True)
    print(
        f"\n{len(sources)} test pairs of {task.corpus}, model {args.model}, "
        f"decoding: {generation.method}\n"
    )
    print(
        "| weights | model.keras MB | SavedModel MB | ms / sentence (batch 64) "
        "| ROUGE-1 | ROUGE-2 | ROUGE-L |\n|---|---|---|---|---|---|---|"
    )
    for name, row in rows.items():
        keras_mb, saved_mb, ms, scores = row["keras"]
        print(
            f"| Keras {name} | {keras_mb:.1f} | {saved_mb:.1f} | {ms:.1f} "
            f"| {scores['rouge1']:.1f} | {scores['rouge2']:.1f} | {scores['rougeL']:.1f} |"
        )
    print(
        "\n| weights | model.tflite MB | ms / sentence (one a call) "
        "| ROUGE-1 | ROUGE-2 | ROUGE-L |\n|---|---|---|---|---|---|"
    )
    for name, row in rows.items():
        size, ms, scores = row["tflite"]
        label = "TFLite float32" if name == "float32" else "TFLite dynamic range int8"
        print(
            f"| {label} | {size:.1f} | {ms:.1f} "
            f"| {scores['rouge1']:.1f} | {scores['rouge2']:.1f} | {scores['rougeL']:.1f} |"
        )


if __name__ == "__main__":
    main()
