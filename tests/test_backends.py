"""The layers on JAX: the backend chosen before Keras, the layer tests, parity, a run.

JAX is an optional extra (`pip install "s2s_keras[jax]"`); without it these
tests are skipped. Each JAX program runs in a process of its own: Keras
reads its backend once, and this process's is TensorFlow.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from s2s_keras.decoding import generate
from s2s_keras.export import write_export
from s2s_keras.text import SubwordTokenizer
from s2s_keras.training import flags
from s2s_keras.training import tasks
from s2s_keras.utils import backends
from s2s_keras.utils.backends import check_backend
from s2s_keras.utils.backends import run_again_on
from tests.test_case import assert_allclose
from tests.text.test_tokenizer import corpus

ROOT = pathlib.Path(__file__).resolve().parents[1]
needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason='JAX is not installed (pip install "s2s_keras[jax]")',
)


def run_python(code, backend="jax", timeout=600, **env):
    """Runs `code` in a fresh interpreter with `KERAS_BACKEND=backend`."""
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "KERAS_BACKEND": backend, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_another_backend_is_refused_where_the_command_cannot_start_again():
    with pytest.raises(ValueError, match="Received: --backend torch"):
        check_backend("torch")
    parser = flags.recipe_parser("", tasks.get("summarize"))
    assert flags.parse(parser, ["--quick"]).backend == "tensorflow"
    # Keras runs on TensorFlow here, and a list of arguments is not this
    # process's command line, so nothing can start again on JAX.
    with pytest.raises(ValueError, match="set KERAS_BACKEND=jax before importing"):
        flags.parse(parser, ["--quick", "--backend", "jax"])


def test_only_a_script_file_is_started_again(monkeypatch, tmp_path):
    script = tmp_path / "recipe.py"
    main = types.ModuleType("__main__")
    main.__file__, main.__spec__ = str(script), None
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", [str(script), "--quick"])
    assert backends.started_as_script()  # python recipe.py --quick
    main.__spec__ = object()  # python -m a_module (pytest, say)
    assert not backends.started_as_script()
    with pytest.raises(RuntimeError, match="run the recipe as a script"):
        run_again_on("tensorflow", "a test")  # refused: nothing is executed
    main.__spec__ = None
    monkeypatch.setattr(sys, "argv", ["-c"])  # python -c "..."
    assert not backends.started_as_script()


@needs_jax
def test_a_model_trained_on_jax_computes_and_generates_as_on_tensorflow(tmp_path):
    tokenizer = SubwordTokenizer.train(corpus(), vocab_size=320)
    # Train the default flavour (copy + coverage) on JAX; keep its .keras file
    # and what it computes for a batch.
    run_python(
        f"""
        import keras, numpy as np
        from s2s_keras.models import build_seq2seq, compile_seq2seq
        assert keras.backend.backend() == "jax"
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        vocab_size = {tokenizer.vocab_size}
        inputs = {{
            "source_ids": rng.integers(4, vocab_size, (8, 9)).astype("int32"),
            "target_ids": rng.integers(4, vocab_size, (8, 5)).astype("int32"),
        }}
        inputs["source_ids"][:2, 6:] = 0  # padding
        labels = rng.integers(4, vocab_size, (8, 5)).astype("int32")
        model = build_seq2seq(vocab_size, vocab_size, 8, 16, copy=True, coverage=True)
        compile_seq2seq(model)
        history = model.fit(inputs, labels, epochs=3, verbose=0)
        assert history.history["loss"][-1] < history.history["loss"][0]
        model.save("{tmp_path}/jax.keras")
        np.savez("{tmp_path}/jax.npz", outputs=np.asarray(model(inputs)), **inputs)
        """
    )
    saved = np.load(tmp_path / "jax.npz")
    inputs = {key: saved[key] for key in ("source_ids", "target_ids")}
    model = keras.saving.load_model(tmp_path / "jax.keras", safe_mode=True)
    assert_allclose(model(inputs), saved["outputs"], atol=1e-5)
    # The export, made on TensorFlow from those weights, generates what
    # generation on TensorFlow does.
    directory = write_export(
        tmp_path / "export",
        model,
        tokenizer,
        max_source_length=9,
        tflite=False,
        max_length=6,
        method="greedy",
    )
    expected = generate(model, inputs["source_ids"], max_length=6, method="greedy")
    served = tf.saved_model.load(str(directory / "saved_model"))
    found = served.signatures["generate_ids"](source_ids=inputs["source_ids"])
    np.testing.assert_array_equal(found["target_ids"].numpy(), expected["target_ids"])


@pytest.mark.slow
@needs_jax
def test_the_layer_tests_pass_on_jax():
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/layers",
            "tests/test_models.py",
            "tests/test_losses.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        env={**os.environ, "KERAS_BACKEND": "jax"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    summary = completed.stdout.strip().splitlines()[-1]
    passed = int(summary.split(" passed")[0].split()[-1])
    assert passed >= 100, summary


@pytest.mark.slow
@needs_jax
def test_the_recipe_trains_on_jax_and_exports_on_tensorflow(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "recipes/summarize.py",
            "--quick",
            "--backend",
            "jax",
            "--output",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "scoring and exporting in a fresh process" in (
        completed.stdout + completed.stderr
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["backend"] == "jax"
    assert metrics["config"]["backend"] == "tensorflow"  # the command that exported
    assert (tmp_path / "saved_model" / "saved_model.pb").is_file()
    assert (tmp_path / "model.tflite").is_file()
    assert not list(tmp_path.glob("runs/*/trained.keras"))  # exported, then deleted
