"""keras-tuner: the hypermodel, a resumable search, and chief/worker mode."""

import importlib.util
import json
import os
import pathlib
import socket
import subprocess
import sys

import keras
import keras_tuner
import numpy as np
import pytest

from s2s_keras.tuning import Seq2SeqHyperModel
from tests.recipes.test_recipes import pairs_file  # noqa: F401 (fixture)
from tests.test_models import reverse_task

TUNE = pathlib.Path(__file__).parents[1] / "recipes" / "tune.py"


def test_default_space_builds_a_model_that_trains():
    hypermodel = Seq2SeqHyperModel(12, 12)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert {"units", "attention", "learning_rate", "dropout"} <= set(hp.values)
    inputs, labels = reverse_task(64, 12, np.random.default_rng(0))
    history = hypermodel.fit(hp, model, inputs, labels, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_fixed_and_narrowed_values_are_kept():
    hypermodel = Seq2SeqHyperModel(
        12, 12, space={"units": [16, 32]}, fixed={"attention": "none", "layers": 2}
    )
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert hp.values["attention"] == "none" and hp.values["layers"] == 2
    assert hp.values["units"] in (16, 32)
    assert "input_feeding" not in hp.values  # only asked when there is attention
    assert type(model.get_layer("decoder")).__name__ == "Decoder"


def test_copy_and_coverage_are_in_the_space():
    fixed = {"attention": "dot", "copy": True, "coverage": True, "units": 16}
    hypermodel = Seq2SeqHyperModel(12, 12, fixed={**fixed, "embedding_dim": 8})
    hp = keras_tuner.HyperParameters()
    decoder = hypermodel.build(hp).get_layer("decoder")
    assert type(decoder).__name__ == "CopyAttentionDecoder" and decoder.coverage
    assert hp.values["coverage_loss_weight"] in (0.5, 1.0, 2.0)
    # Copying needs a shared vocabulary: not asked when the sizes differ.
    hp = keras_tuner.HyperParameters()
    Seq2SeqHyperModel(12, 14, fixed={"attention": "dot"}).build(hp)
    assert "copy" not in hp.values and "coverage" in hp.values


def test_fit_forwards_callbacks():
    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(epoch)

    hypermodel = Seq2SeqHyperModel(12, 12, fixed={"units": 16, "embedding_dim": 8})
    hp = keras_tuner.HyperParameters()
    inputs, labels = reverse_task(32, 12, np.random.default_rng(0))
    hypermodel.fit(
        hp,
        hypermodel.build(hp),
        inputs,
        labels,
        epochs=2,
        verbose=0,
        callbacks=[Recorder()],
    )
    assert seen == [0, 1]


def test_unknown_hyperparameter_is_refused():
    with pytest.raises(ValueError, match=r"Unknown hyperparameters \['heads'\]"):
        Seq2SeqHyperModel(12, 12, fixed={"heads": 4})


def load_tune():
    spec = importlib.util.spec_from_file_location("tune", TUNE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tune_args(pairs_file, directory):  # noqa: F811
    return [
        "--recipe", "summarize", "--data", str(pairs_file), "--source-field", "text",
        "--target-field", "summary", "--quick", "--max-trials", "2", "--epochs", "1",
        "--directory", str(directory), "--vocab-size", "320", "--max-source-length", "24",
        "--max-target-length", "8",
    ]  # fmt: skip


def trial_folders(directory):
    return sorted(path.name for path in (directory / "trials").glob("trial_*"))


def test_search_writes_the_best_and_resumes_without_rerunning(pairs_file, tmp_path):  # noqa: F811
    tune = load_tune()
    best = tune.main(tune_args(pairs_file, tmp_path))
    saved = json.loads((tmp_path / "best_hyperparameters.json").read_text())
    assert saved["values"] == best and saved["objective"] == "val_loss"
    trials = trial_folders(tmp_path)
    assert len(trials) == 2
    stamps = {
        name: (tmp_path / "trials" / name / "trial.json").stat().st_mtime
        for name in trials
    }
    tune.main(tune_args(pairs_file, tmp_path))
    assert trial_folders(tmp_path) == trials
    assert stamps == {
        name: (tmp_path / "trials" / name / "trial.json").stat().st_mtime
        for name in trials
    }


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_chief_and_two_workers_account_for_every_trial(pairs_file, tmp_path):  # noqa: F811
    port = str(free_port())
    args = tune_args(pairs_file, tmp_path)
    args[args.index("--max-trials") + 1] = "4"
    processes = {}
    for tuner_id in ["chief", "tuner0", "tuner1"]:
        environment = {
            **os.environ,
            "KERASTUNER_TUNER_ID": tuner_id,
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": port,
        }
        processes[tuner_id] = subprocess.Popen(
            [sys.executable, str(TUNE), *args],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    outputs = {}
    try:  # the workers run the trials; the chief serves the oracle, then reports
        for tuner_id in ["tuner0", "tuner1", "chief"]:
            outputs[tuner_id] = processes[tuner_id].communicate(timeout=600)[0]
    finally:
        for process in processes.values():
            process.kill()
    for tuner_id, process in processes.items():
        assert process.returncode == 0, outputs[tuner_id][-3000:]
    assert (tmp_path / "best_hyperparameters.json").is_file()
    assert "Best hyperparameters" in outputs["chief"]
    oracle = json.loads((tmp_path / "trials" / "oracle.json").read_text())
    finished = [
        trial for trial in trial_folders(tmp_path)
        if json.loads((tmp_path / "trials" / trial / "trial.json").read_text())["status"] == "COMPLETED"
    ]  # fmt: skip
    assert len(finished) == 4, (finished, oracle)


@pytest.mark.slow
def test_score_objective_and_export_of_the_best(pairs_file, tmp_path):  # noqa: F811
    tune = load_tune()
    args = tune_args(pairs_file, tmp_path / "search")
    args[args.index("--max-trials") + 1] = "1"
    tune.main([*args, "--objective", "val_rougeL", "--export", str(tmp_path / "best")])
    saved = json.loads((tmp_path / "search" / "best_hyperparameters.json").read_text())
    assert saved["objective"] == "val_rougeL" and 0.0 <= saved["score"] <= 100.0
    exported = {path.name for path in (tmp_path / "best").iterdir()}
    assert {"saved_model", "model.tflite", "model.keras", "metrics.json"} <= exported
    metrics = json.loads((tmp_path / "best" / "metrics.json").read_text())
    assert set(metrics["scores"]["best trial"]) == {"rouge1", "rouge2", "rougeL"}
