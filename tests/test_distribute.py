"""tf.distribute: strategies by name, mirrored == one device, multi-worker with a kill."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest

from s2s_keras import build_seq2seq
from s2s_keras.training import distribute
from tests.recipes.test_recipes import RECIPES
from tests.recipes.test_recipes import SUMMARIZE_RUN
from tests.recipes.test_recipes import quick_args
from tests.test_reliability import first_trained_epoch

ROOT = RECIPES.parent


def run_python(script, env=None, timeout=300):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_a_private_keras_name_gone_is_named_with_the_keras_version(
    monkeypatch, tmp_path
):
    from keras.src.backend.tensorflow import trainer

    from s2s_keras.training import multi_worker_fit

    version = re.escape(keras.__version__)
    monkeypatch.delattr(keras.callbacks.BackupAndRestore, "_save_model")
    with pytest.raises(
        RuntimeError,
        match=rf"Keras {version} does not have: BackupAndRestore\._save_model\. "
        r"s2s_keras is tested with Keras 3\.15\.x",
    ):
        distribute.ClusterBackupAndRestore(str(tmp_path))
    monkeypatch.setattr(multi_worker_fit, "_original", {})  # not installed yet
    monkeypatch.delattr(trainer, "reduce_per_replica")
    with pytest.raises(
        RuntimeError,
        match=rf"Keras {version} does not have: .*trainer\.reduce_per_replica",
    ):
        multi_worker_fit.allow_multi_worker_fit()
    assert trainer.TensorFlowTrainer._maybe_symbolic_build is not (
        multi_worker_fit._maybe_symbolic_build
    )  # nothing half-installed


@pytest.mark.parametrize("multi_worker_fixes", [False, True])
def test_mirrored_over_two_cpus_matches_one_device(multi_worker_fixes):
    """Same global batch, same seed: the same losses, within float error.

    The targets have no padding: with padding, each replica averages over
    its own real tokens, which weighs tokens differently from one device.
    With the multi-worker fixes of Keras's fit installed, nothing changes
    for the other strategies.
    """
    script = f"""
        import json
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        import keras
        import numpy as np
        from s2s_keras import build_seq2seq
        from s2s_keras.training import distribute
        from s2s_keras.training.multi_worker_fit import allow_multi_worker_fit

        if {multi_worker_fixes}:
            allow_multi_worker_fit()
        rng = np.random.default_rng(0)
        inputs = {{
            "source_ids": rng.integers(4, 30, (32, 7)).astype("int32"),
            "target_ids": rng.integers(4, 30, (32, 5)).astype("int32"),
        }}
        labels = rng.integers(4, 30, (32, 5)).astype("int32")
        losses = {{}}
        for name in ("one-device", "mirrored"):
            strategy = distribute.get_strategy(name)
            keras.utils.set_random_seed(0)
            with strategy.scope():
                model = build_seq2seq(30, 30, 8, 16)
                model.compile(
                    keras.optimizers.SGD(0.5),
                    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                )
            history = model.fit(
                inputs, labels, batch_size=16, epochs=3, shuffle=False, verbose=0
            )
            losses[name] = [history.history["loss"], strategy.num_replicas_in_sync]
        print(json.dumps(losses))
    """
    losses = json.loads(run_python(script).strip().splitlines()[-1])
    assert losses["mirrored"][1] == 2 and losses["one-device"][1] == 1
    np.testing.assert_allclose(
        losses["mirrored"][0], losses["one-device"][0], rtol=1e-4
    )
    assert losses["one-device"][0][-1] < losses["one-device"][0][0]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_with_finite_loss_and_float32_logits(policy):
    distribute.set_precision(policy)
    model = build_seq2seq(30, 30, 8, 16, copy=True, coverage=True)
    model.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    inputs = {
        "source_ids": np.pad(rng.integers(4, 30, (16, 6)), [[0, 0], [0, 3]]),
        "target_ids": np.pad(rng.integers(4, 30, (16, 4)), [[0, 0], [0, 2]]),
    }
    labels = np.pad(rng.integers(4, 30, (16, 4)), [[0, 0], [0, 2]])
    history = model.fit(inputs, labels, epochs=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.get_layer("encoder").compute_dtype == policy.split("_")[1]
    assert keras.backend.standardize_dtype(model(inputs).dtype) == "float32"


def test_strategies_by_name_and_clear_errors(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.get_strategy("auto").num_replicas_in_sync == 1
    assert distribute.get_strategy("one-device").num_replicas_in_sync == 1
    assert distribute.is_chief() and distribute.worker_count() == 1
    with pytest.raises(ValueError, match="Received: strategy='ring'"):
        distribute.get_strategy("ring")
    with pytest.raises(ValueError, match="TF_CONFIG, which is unset"):
        distribute.get_strategy("multi-worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        distribute.get_strategy("auto")


def test_the_chief_is_the_chief_task_or_worker_zero(monkeypatch):
    workers = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    with_chief = {**workers, "chief": ["127.0.0.1:3"]}
    for cluster, task, chief, index in [
        (workers, {"type": "worker", "index": 0}, True, 0),
        (workers, {"type": "worker", "index": 1}, False, 1),
        (with_chief, {"type": "worker", "index": 0}, False, 1),
        (with_chief, {"type": "worker", "index": 1}, False, 2),
        (with_chief, {"type": "chief", "index": 0}, True, 0),
    ]:
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
        assert distribute.is_chief() is chief
        assert distribute.worker_index() == index  # which shard files it reads
    assert distribute.worker_count() == 3


def run_cluster(pairs_file, output, extra_args, ports):
    """Starts the workers, waits for all to succeed, returns their logs."""
    workers = start_workers(pairs_file, output, extra_args, ports)
    try:
        codes = wait_all(workers, timeout=600)
    finally:
        kill_all(workers)
    logs = [(output.parent / f"worker{i}.log").read_text() for i in range(len(ports))]
    assert codes == [0] * len(ports), logs
    return logs


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def start_workers(pairs_file, output, extra_args, ports):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(len(ports)):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        log_file = open(output.parent / f"worker{index}.log", "a")
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(RECIPES / "summarize.py"),
                    *quick_args(pairs_file, output),
                    "--strategy",
                    "multi-worker",
                    *extra_args,
                ],
                cwd=ROOT,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env={
                    **os.environ,
                    "TF_CONFIG": json.dumps(config),
                    "TF_CPP_MIN_LOG_LEVEL": "3",
                    "CI": "1",  # one line per epoch in the logs
                },
            )
        )
    return workers


def wait_all(workers, timeout):
    deadline = time.monotonic() + timeout
    codes = []
    for worker in workers:
        codes.append(worker.wait(timeout=max(1.0, deadline - time.monotonic())))
    return codes


def kill_all(workers):
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait()


@pytest.mark.slow
def test_two_workers_train_together_and_the_chief_exports(pairs_file, tmp_path):
    output = tmp_path / "run" / "summarize"
    output.parent.mkdir()
    logs = run_cluster(
        pairs_file, output, ["--epochs", "2", "--shards", "2"], free_ports(2)
    )
    assert "Training on 2 replicas (multi-worker)" in logs[0]
    assert all("train in 2 shard files" in log for log in logs)  # one each
    assert "the chief writes" in logs[1]
    assert (output / "saved_model").is_dir() and (output / "model.tflite").is_file()
    assert "metrics.json" in {path.name for path in output.iterdir()}


@pytest.mark.slow
def test_a_killed_worker_restarts_and_the_cluster_resumes_from_its_backup(
    pairs_file,
    tmp_path,
):
    """Worker 1 dies after the first epoch's backup; the job is restarted.

    As with any synchronous all-reduce job, the chief cannot go on alone: it
    is stopped too, both are started again with the same command, and
    training resumes from the backup rather than from the start.
    """
    output = tmp_path / "run" / "summarize"
    output.parent.mkdir()
    args = ["--epochs", "4"]
    ports = free_ports(2)
    workers = start_workers(pairs_file, output, args, ports)
    backup = output / "runs" / SUMMARIZE_RUN / "backup"
    try:
        deadline = time.monotonic() + 400
        # The epoch count is written last (the weights, staged under a
        # temporary name ending in .weights.h5 too, before it): wait for it.
        while not (backup / "training_metadata.json").is_file():
            assert time.monotonic() < deadline, "no backup was written"
            assert all(worker.poll() is None for worker in workers)
            time.sleep(0.5)
        workers[1].send_signal(signal.SIGKILL)  # a worker dies mid-training
        workers[1].wait()
    finally:
        kill_all(workers)  # the job restarts: the chief is stopped too
    done = json.loads((backup / "training_metadata.json").read_text())["epoch"]
    logs = run_cluster(pairs_file, output, args, ports)
    for log in logs:  # every worker resumes from the chief's backup
        assert f"done, training from epoch {done + 1}." in log
        rerun = log.split("Resuming from")[-1]  # the logs hold the killed run too
        assert first_trained_epoch(rerun) == done + 1
    history = (output / "runs" / SUMMARIZE_RUN / "history.csv").read_text().splitlines()
    epochs = [int(line.split(",")[0]) for line in history[1:] if line[:1].isdigit()]
    # The epoch in progress at the kill may have been logged before its backup.
    assert sorted(set(epochs)) == [0, 1, 2, 3] and len(epochs) <= 4 + 1
    assert (output / "model.tflite").is_file()


@pytest.mark.parametrize(
    "flags, native",
    [
        ("fpu sse avx512f avx512_bf16 amx_bf16 amx_tile amx_int8", True),
        ("fpu sse avx2 avx512f avx512_bf16", False),  # bfloat16 dot, no AMX tiles
        ("fpu sse avx2", False),
    ],
)
def test_auto_precision_is_bfloat16_only_where_the_cpu_multiplies_it(
    tmp_path, flags, native
):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert distribute.native_bfloat16(cpuinfo) is native
    assert distribute.native_bfloat16(tmp_path / "missing") is False


def test_set_precision_auto_says_what_it_chose():
    chosen = distribute.set_precision("auto")
    expected = "mixed_bfloat16" if distribute.native_bfloat16() else "float32"
    assert chosen == expected
    assert keras.mixed_precision.global_policy().name == expected
    with pytest.raises(ValueError, match="float64"):
        distribute.set_precision("float64")


def test_float32_copy_keeps_the_weights_and_computes_in_float32(tmp_path):
    from s2s_keras.models import float32_config
    from s2s_keras.models import float32_copy

    distribute.set_precision("mixed_bfloat16")
    model = build_seq2seq(30, 30, 8, 16, copy=True, coverage=True)
    distribute.set_precision("float32")
    assert float32_copy(float32_copy(model)) is not model
    copy = float32_copy(model)
    assert float32_copy(copy) is copy  # already float32: itself
    decoder = copy.get_layer("decoder")
    for layer in [copy.get_layer("encoder"), decoder, decoder.output_projection]:
        assert layer.compute_dtype == "float32", layer.name
    for original, copied in zip(model.get_weights(), copy.get_weights(), strict=True):
        np.testing.assert_array_equal(original, copied)
    inputs = {
        "source_ids": np.array([[5, 6, 7, 0]]),
        "target_ids": np.array([[2, 8, 9]]),
    }
    # The same function, in float32 rather than bfloat16's 8-bit mantissa.
    np.testing.assert_allclose(copy(inputs), model(inputs), atol=0.1)
    # A rerun finds the kept float32 copy built like its bfloat16 model.
    copy.save(tmp_path / "kept.keras")
    kept = keras.saving.load_model(tmp_path / "kept.keras", safe_mode=True)
    assert json.dumps(float32_config(kept.get_config()), sort_keys=True) == json.dumps(
        float32_config(model.get_config()), sort_keys=True
    )
