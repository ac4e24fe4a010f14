"""Batch inference's throughput: the file job and the Beam pipeline against `Preset.generate`.

The same texts (the out-of-domain Python summaries' long descriptions,
repeated to `--rows`) summarized three ways by `summarize_debian`, at batch
64, after a warm-up:

- `Preset.generate(texts, batch_size=64)`: the Keras model's `Generator`,
  in this process, texts in memory (the baseline);
- `python -m s2s_keras.predict`'s job (`predict_files`): the export's
  SavedModel over a `.jsonl.gz` file, parts written to disk;
- the Beam pipeline (`s2s_keras.predict.beam`) on the DirectRunner, if
  apache-beam is installed.

    python bench/batch_inference.py              # about 3 minutes on 2 cores
"""

import argparse
import gzip
import json
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s2s_keras import presets  # noqa: E402
from s2s_keras.data import python_summaries  # noqa: E402
from s2s_keras.predict import ExportPredictor  # noqa: E402
from s2s_keras.predict import predict_files  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="summarize_debian", help="a preset (default: %(default)s)")  # fmt: skip
    parser.add_argument("--rows", type=int, default=1024, help="texts summarized each way (default: %(default)s)")  # fmt: skip
    args = parser.parse_args(argv)
    pairs, _ = python_summaries.summary_pairs()
    sources = [source for source, _ in pairs]
    texts = (sources * (args.rows // len(sources) + 1))[: args.rows]
    folder = pathlib.Path(tempfile.mkdtemp(prefix="batch_inference."))
    with gzip.open(folder / "texts.jsonl.gz", "wt", encoding="utf-8") as file:
        for index, text in enumerate(texts):
            file.write(json.dumps({"id": index, "text": text}) + "\n")

    preset = presets.load(args.model)
    preset.generate(texts[:64], batch_size=64)  # warm-up: traces the search
    began = time.perf_counter()
    preset.generate(texts, batch_size=64)
    timings = {
        "Preset.generate (the Generator, in memory)": time.perf_counter() - began
    }

    predictor = ExportPredictor(args.model)
    predictor(texts[:64])  # warm-up
    began = time.perf_counter()
    predict_files(predictor, folder / "texts.jsonl.gz", folder / "job", progress=False)
    timings["python -m s2s_keras.predict (SavedModel, files)"] = (
        time.perf_counter() - began
    )

    try:
        import apache_beam as beam

        from s2s_keras.predict.beam import ExportModelHandler
        from s2s_keras.predict.beam import build_pipeline
    except ImportError:
        beam = None
    if beam is not None:
        handler = ExportModelHandler(args.model, batch_size=64)
        began = time.perf_counter()  # the worker's load of the SavedModel included
        with beam.Pipeline("DirectRunner") as pipeline:
            build_pipeline(pipeline, handler, folder / "texts.jsonl.gz", folder / "beam" / "part")  # fmt: skip
        timings["Beam, DirectRunner (model load included)"] = (
            time.perf_counter() - began
        )

    baseline = next(iter(timings.values()))
    print(f"\n{args.rows} texts, batch 64, {args.model}\n")
    print("| way | seconds | texts/s | vs Preset.generate |\n|---|---|---|---|")
    for way, seconds in timings.items():
        print(f"| {way} | {seconds:.1f} | {args.rows / seconds:.0f} | {baseline / seconds:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
