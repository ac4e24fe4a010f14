"""Batch inference on Apache Beam: the same job, on as many machines as the runner has.

    pip install "s2s_keras[beam]"
    python -m s2s_keras.predict.beam summarize_debian --input 'corpus/*.jsonl.gz' \
        --field text --output summaries/ [--runner DataflowRunner --project ...]

The pipeline reads the files (`ReadFromText`, gzipped or not), runs the
export in Beam's `RunInference` with `ExportModelHandler` (a `ModelHandler`
that loads the SavedModel once per worker and calls it on the batches Beam
forms), and writes the rows with the model's output added, as gzipped JSONL
shards (`WriteToText`). Every option after ours goes to Beam
(`--runner`, `--direct_num_workers`, ...): the DirectRunner runs it here, and
the same command runs on Flink, Spark or Dataflow. Rows come out in any
order across shards (Beam's), each a whole record.
"""

import argparse
import json

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler
from apache_beam.ml.inference.base import ModelHandler
from apache_beam.ml.inference.base import PredictionResult
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from s2s_keras.predict import ExportPredictor
from s2s_keras.predict import input_format
from s2s_keras.predict.__main__ import add_job_arguments


class ExportModelHandler(ModelHandler):
    """Beam's `ModelHandler` of an export: texts in, output dicts out.

    Args:
        model: an export folder, or a preset's name or folder.
        signature: the signature to run (one text input).
        output_field: the field of the text output.
        batch_size: the largest batch Beam hands to one call.
    """

    def __init__(
        self,
        model,
        signature="serving_default",
        output_field="prediction",
        batch_size=64,
    ):
        self.model, self.signature = str(model), signature
        self.output_field, self.batch_size = output_field, batch_size

    def load_model(self):
        return ExportPredictor(self.model, self.signature, self.output_field)

    def run_inference(self, batch, model, inference_args=None):
        texts = list(batch)
        return [
            PredictionResult(text, answer)
            for text, answer in zip(texts, model(texts), strict=True)
        ]

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": self.batch_size}


def _keyed(line, field, kind):
    """`(record as JSON, text)` of an input line, or nothing for a blank one."""
    if kind == ".txt":
        return [(json.dumps({field: line}), line)]
    if not line.strip():
        return []
    record = json.loads(line)
    if not isinstance(record, dict) or not isinstance(record.get(field), str):
        raise ValueError(
            f"expected a JSON object with a text field {field!r}: {line[:80]!r}"
        )
    return [(line, record[field])]


def _joined(keyed_result):
    record, result = keyed_result
    return json.dumps({**json.loads(record), **result.inference}, ensure_ascii=False)


def build_pipeline(pipeline, handler, inputs, output, field="text"):
    """Adds the job to `pipeline`: read `inputs`, run `handler`, write `output`.

    Args:
        pipeline: a `beam.Pipeline`.
        handler: an `ExportModelHandler`.
        inputs: a file or a glob, `.jsonl` or `.txt` (gzipped or not).
        output: the output prefix: shards `{output}-00000-of-0000N.jsonl.gz`.
        field: the text field of a `.jsonl` record (a `.txt` line's name).
    """
    kind = input_format(inputs)
    return (
        pipeline
        | "Read" >> beam.io.ReadFromText(str(inputs))
        | "Key by record" >> beam.FlatMap(_keyed, field, kind)
        | "Predict" >> RunInference(KeyedModelHandler(handler))
        | "Join" >> beam.Map(_joined)
        | "Write" >> beam.io.WriteToText(str(output), file_name_suffix=".jsonl.gz")
    )


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m s2s_keras.predict.beam",
        description=__doc__.split("\n\n")[0],
        epilog="Every other option goes to Beam's PipelineOptions (--runner, ...).",
    )
    add_job_arguments(
        parser, "the output prefix: shards PREFIX-00000-of-0000N.jsonl.gz"
    )
    args, beam_args = parser.parse_known_args(argv)
    handler = ExportModelHandler(
        args.model, args.signature, args.output_field, args.batch_size
    )
    with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
        build_pipeline(pipeline, handler, args.input, args.output, args.field)


if __name__ == "__main__":
    main()
