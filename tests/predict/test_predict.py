"""Batch inference over files: the SavedModel's outputs, in parts, resumable."""

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from s2s_keras.predict import ExportPredictor
from s2s_keras.predict import part_name
from s2s_keras.predict import predict_files

WORDS = "the encoder reads a source and attention looks back at it".split()


def texts(count, seed=0):
    random = np.random.default_rng(seed)
    return [
        " ".join(random.choice(WORDS, size=random.integers(0, 9))) for _ in range(count)
    ]


def write_jsonl_gz(path, rows):
    with gzip.open(path, "wt", encoding="utf-8") as file:
        for index, text in enumerate(rows):
            file.write(json.dumps({"id": index, "text": text}) + "\n")


def read_parts(folder):
    rows = []
    for part in sorted(folder.glob("part-*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as file:
            rows += [json.loads(line) for line in file]
    return rows


@pytest.fixture(scope="module")
def predictor(beam_export):
    return ExportPredictor(beam_export)


def test_every_row_gets_the_saved_models_output_in_order(
    predictor, beam_export, tmp_path
):
    rows = texts(2_500)
    write_jsonl_gz(tmp_path / "a.jsonl.gz", rows[:2_000])
    (tmp_path / "b.txt").write_text("\n".join(rows[2_000:]) + "\n")
    counts = predict_files(
        predictor,
        str(tmp_path / "[ab].*"),
        tmp_path / "out",
        batch_size=64,
        shard_rows=700,
        progress=False,
    )
    assert counts == {"files": 2, "rows": 2_500, "predicted": 2_500}
    a, b = (
        read_parts(tmp_path / "out" / "a.jsonl.gz"),
        read_parts(tmp_path / "out" / "b.txt"),
    )
    assert len(list((tmp_path / "out" / "a.jsonl.gz").glob("part-*"))) == 3
    assert [row["id"] for row in a] == list(range(2_000))
    assert [row["text"] for row in a + b] == rows
    loaded = tf.saved_model.load(str(beam_export / "saved_model"))
    direct = loaded.signatures["serving_default"](text=tf.constant(rows))
    assert [row["prediction"] for row in a + b] == [
        text.decode() for text in direct["text"].numpy()
    ]
    np.testing.assert_allclose(
        [row["prediction_scores"] for row in a + b], direct["scores"].numpy(), atol=1e-5
    )
    done = json.loads((tmp_path / "out" / "a.jsonl.gz" / "_DONE").read_text())
    assert done == {"rows": 2_000, "parts": 3}


def test_a_stopped_job_resumes_without_redoing_finished_parts(predictor, tmp_path):
    write_jsonl_gz(tmp_path / "a.jsonl.gz", texts(250))

    def stop_after_two(part):
        if part.name == part_name(1):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_files(
            predictor, tmp_path / "a.jsonl.gz", tmp_path / "out", shard_rows=100,
            progress=False, on_part=stop_after_two,
        )  # fmt: skip
    folder = tmp_path / "out" / "a.jsonl.gz"
    written = {part.name: part.stat().st_ino for part in folder.glob("part-*")}
    assert sorted(written) == [part_name(0), part_name(1)]
    assert not (folder / "_DONE").exists()
    counts = predict_files(
        predictor, tmp_path / "a.jsonl.gz", tmp_path / "out", shard_rows=100,
        progress=False,
    )  # fmt: skip
    assert counts == {"files": 1, "rows": 250, "predicted": 50}
    assert {
        n: (folder / n).stat().st_ino for n in written
    } == written  # kept as they were
    assert [row["id"] for row in read_parts(folder)] == list(range(250))
    again = predict_files(
        predictor, tmp_path / "a.jsonl.gz", tmp_path / "out", progress=False
    )
    assert again == {"files": 1, "rows": 250, "predicted": 0}


@pytest.mark.parametrize(
    "content, match",
    [
        ('{"text": "a"}\nnot json\n', "line 2: not valid JSON"),
        ('{"text": 7}\n', "line 1: expected a JSON object with a text field 'text'"),
        ('["a"]\n', "line 1: expected a JSON object"),
    ],
)
def test_a_bad_row_fails_naming_the_file_and_line(predictor, tmp_path, content, match):
    (tmp_path / "bad.jsonl").write_text(content)
    with pytest.raises(ValueError, match=match):
        predict_files(
            predictor, tmp_path / "bad.jsonl", tmp_path / "out", progress=False
        )


def test_the_command_line_runs_the_job_and_explains_itself(beam_export, tmp_path):
    write_jsonl_gz(tmp_path / "a.jsonl.gz", texts(30))
    command = [sys.executable, "-m", "s2s_keras.predict"]
    help_text = subprocess.run(command + ["--help"], capture_output=True, text=True)
    assert "resume" in help_text.stdout and "--shard-rows" in help_text.stdout
    result = subprocess.run(
        command
        + [str(beam_export), "--input", str(tmp_path / "*.jsonl.gz")]
        + ["--output", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "30 rows of 1 file(s)" in result.stdout
    assert len(read_parts(tmp_path / "out" / "a.jsonl.gz")) == 30
    bad = subprocess.run(
        command + [str(tmp_path), "--input", "x", "--output", "y"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "error:" in bad.stderr


@pytest.mark.slow
def test_a_killed_job_rerun_finishes_without_redoing_finished_parts(
    beam_export, tmp_path
):
    """SIGKILL while a part is written: the rerun keeps the parts written
    (same files), drops the unfinished one and writes the rest."""
    import os
    import signal
    import time

    write_jsonl_gz(tmp_path / "a.jsonl.gz", texts(3_000))
    folder = tmp_path / "out" / "a.jsonl.gz"
    command = [sys.executable, "-m", "s2s_keras.predict", str(beam_export)]
    command += [
        "--input",
        str(tmp_path / "a.jsonl.gz"),
        "--output",
        str(tmp_path / "out"),
    ]
    command += ["--shard-rows", "200", "--batch-size", "4"]
    job = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not (folder / part_name(1)).exists():
        assert job.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(job.pid, signal.SIGKILL)
    job.wait(30)
    written = {part.name: part.stat().st_ino for part in folder.glob("part-*")}
    assert 2 <= len(written) < 15 and not (folder / "_DONE").exists()
    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert {n: (folder / n).stat().st_ino for n in written} == written
    assert f"{3_000 - 200 * len(written):,} predicted by this run" in rerun.stdout
    assert [row["id"] for row in read_parts(folder)] == list(range(3_000))
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [part_name(i) for i in range(15)] + ["_DONE"]
    )
