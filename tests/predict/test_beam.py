"""The batch job as an Apache Beam pipeline, on the DirectRunner over local files."""

import gzip
import json

import pytest
import tensorflow as tf

from tests.predict.test_predict import texts
from tests.predict.test_predict import write_jsonl_gz

beam = pytest.importorskip("apache_beam")


def test_the_pipeline_gives_the_saved_models_outputs(beam_export, tmp_path):
    from s2s_keras.predict.beam import ExportModelHandler
    from s2s_keras.predict.beam import build_pipeline

    rows = texts(2_000, seed=1)
    write_jsonl_gz(tmp_path / "a.jsonl.gz", rows)
    handler = ExportModelHandler(beam_export, batch_size=64)
    with beam.Pipeline("DirectRunner") as pipeline:
        build_pipeline(
            pipeline, handler, tmp_path / "a.jsonl.gz", tmp_path / "out" / "part"
        )
    written = []
    for shard in sorted((tmp_path / "out").glob("part-*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as file:
            written += [json.loads(line) for line in file]
    assert sorted(row["id"] for row in written) == list(range(2_000))
    loaded = tf.saved_model.load(str(beam_export / "saved_model"))
    direct = loaded.signatures["serving_default"](text=tf.constant(rows))
    expected = [text.decode() for text in direct["text"].numpy()]
    by_id = {row["id"]: row for row in written}
    assert [by_id[i]["prediction"] for i in range(2_000)] == expected
    assert [by_id[i]["text"] for i in range(2_000)] == rows
