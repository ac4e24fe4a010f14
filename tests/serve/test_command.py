"""`python -m s2s_keras.serve`: starts, answers, reads and writes nothing else."""

import hashlib
import os
import re
import subprocess
import sys
import time

import httpx2
import pytest

from s2s_keras.serve.__main__ import main as serve_main
from tests.serve.conftest import free_port


def fingerprint(directory):
    """Every file under `directory` with its bytes' hash."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def start(export, cwd, *flags):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "-m", "s2s_keras.serve", str(export), *flags],
        cwd=cwd,
        env={**env, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until_up(url, process, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read())
        try:
            return httpx2.get(url, timeout=1)
        except httpx2.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not answer in time")


@pytest.mark.slow
def test_serves_the_export_on_loopback_and_writes_nothing(beam_export, tmp_path):
    before = fingerprint(beam_export)
    port = free_port()
    process = start(beam_export, tmp_path, "--port", str(port), "--name", "summarizer")
    try:
        base = f"http://127.0.0.1:{port}/v1/models/summarizer"
        assert (
            wait_until_up(base, process).json()["model_version_status"][0]["state"]
            == "AVAILABLE"
        )
        # Texts that look like paths, code or URLs are only text to the model.
        hostile = [
            "/etc/passwd",
            "__import__('os').system('touch pwned')",
            "file:///tmp/x",
        ]
        answer = httpx2.post(base + ":predict", json={"instances": hostile}, timeout=60)
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 3
        oversized = httpx2.post(base + ":predict", content=b"x" * (2 << 20), timeout=60)
        assert oversized.status_code == 413 and "error" in oversized.json()
    finally:
        process.terminate()
        output = process.communicate(timeout=60)[0]
    assert "Serving summarizer" in output and f"127.0.0.1:{port}" in output
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran
    assert fingerprint(beam_export) == before  # nor in the export


@pytest.mark.slow
def test_sigterm_answers_the_requests_in_flight_and_exits_0(beam_export, tmp_path):
    """One call a row (--max-batch-size 1) makes a 200-row request take a
    while: SIGTERM during it still answers it whole, then the server exits 0
    and takes no more connections; gRPC answers before it."""
    import signal
    import threading

    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from tests.serve.test_grpc import predict_request

    port, grpc_port = free_port(), free_port()
    flags = ["--port", str(port), "--grpc-port", str(grpc_port), "--name", "beam"]
    process = start(beam_export, tmp_path, *flags, "--max-batch-size", "1")
    try:
        base = f"http://127.0.0.1:{port}/v1/models/beam"
        wait_until_up(base, process)
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            answer = stub.Predict(predict_request(text=["a b"]), timeout=60)
            assert answer.outputs["text"].string_val
        metrics = f"http://127.0.0.1:{port}/monitoring/prometheus/metrics"

        def calls():
            text = httpx2.get(metrics, timeout=10).text
            return float(
                re.search(r"s2s_keras_batch_rows_count\{[^}]*\} (\S+)", text)[1]
            )

        answers, before = [], calls()
        long_request = threading.Thread(
            target=lambda: answers.append(
                httpx2.post(
                    base + ":predict", json={"instances": ["a b c"] * 200}, timeout=120
                )
            )
        )
        long_request.start()
        deadline = time.monotonic() + 60
        while calls() < before + 5 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the long request's calls run
        assert calls() < before + 200, "the request ended before SIGTERM"
        process.send_signal(signal.SIGTERM)
        long_request.join(120)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    (answer,) = answers
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 200
    with pytest.raises(httpx2.TransportError):
        httpx2.get(base, timeout=2)


def test_a_folder_without_an_export_exits_with_a_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "s2s_keras.serve", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 2
    assert f"No SavedModel in {tmp_path}" in result.stderr
    assert "and no preset of that name" in result.stderr


def test_help_explains_the_api():
    result = subprocess.run(
        [sys.executable, "-m", "s2s_keras.serve", "--help"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0
    for words in (
        ":predict",
        "--max-batch-size",
        "--max-rows",
        "--request-timeout-s",
        "--host",
        "127.0.0.1",
        "503",
        "504",
        "413",
    ):
        assert words in result.stdout


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--port", "70000"], "a port is 1 to 65535"),
        (["--max-batch-size", "0"], "max_batch_size must be a positive integer"),
        (["--max-rows", "0"], "max_rows must be a positive integer"),
        (["--request-timeout-s", "0"], "request_timeout_s must be > 0"),
        (["--name", "a/b"], "A model name is letters"),
    ],
)
def test_bad_settings_exit_with_a_message(beam_export, capsys, flags, message):
    with pytest.raises(SystemExit) as exited:
        serve_main([str(beam_export), *flags])
    assert exited.value.code == 2 and message in capsys.readouterr().err
