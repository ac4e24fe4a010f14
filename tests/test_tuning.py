"""keras-tuner: the hypermodel, a resumable search, and chief/worker mode."""

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

from s2s_keras.models import build_seq2seq
from s2s_keras.models import compile_seq2seq
from s2s_keras.training import callbacks
from s2s_keras.training.tuning import Seq2SeqHyperModel
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


def test_every_point_of_the_default_space_builds():
    # keras-tuner builds each trial from a space that earlier builds filled
    # in: coverage and its weight must be found there, in every combination.
    hypermodel = Seq2SeqHyperModel(12, 12, fixed={"units": 8, "embedding_dim": 4})
    space = keras_tuner.HyperParameters()
    hypermodel.build(space)
    for attention in ("dot", "none"):
        for coverage in (True, False):
            hp = space.copy()
            hp.values.update(attention=attention, coverage=coverage, copy=False)
            decoder = hypermodel.build(hp).get_layer("decoder")
            assert getattr(decoder, "coverage", False) == (
                coverage and attention != "none"
            )


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


def test_the_recipes_training_settings_hold_for_every_trial():
    # The summarizer ties its output layer and averages its weights: a
    # search run by its recipe must train its trials the same way (a model
    # compiled without the average fails under the recipe's SwapEMAWeights).
    hypermodel = Seq2SeqHyperModel(
        12,
        12,
        fixed={"units": 8, "embedding_dim": 4},
        tie_embeddings=True,
        label_smoothing=0.1,
        ema_momentum=0.9,
    )
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert model.get_layer("decoder").tie_embeddings
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == 0.9
    assert model.loss.label_smoothing == 0.1
    inputs, labels = reverse_task(32, 12, np.random.default_rng(0))
    history = hypermodel.fit(
        hp,
        model,
        inputs,
        labels,
        validation_data=(inputs, labels),
        epochs=1,
        verbose=0,
        callbacks=callbacks.averaged(0.9),
    )
    assert np.isfinite(history.history["val_loss"][0])


def test_the_score_objective_decodes_as_the_recipe_does():
    # The summarizer decodes with known words only: the search's score must
    # too, with the training text's lexicon.
    from s2s_keras.decoding import Lexicon
    from s2s_keras.text import SubwordTokenizer
    from s2s_keras.training.config import GenerationConfig
    from s2s_keras.training.evaluation import ValidationScore
    from s2s_keras.training.evaluation import evaluate
    from tests.text.test_tokenizer import corpus

    texts = corpus()
    tokenizer = SubwordTokenizer.train(texts, vocab_size=320)
    lexicon = Lexicon.from_texts(tokenizer, texts[:5])
    pairs = list(zip(texts[:6], texts[6:12], strict=True))
    generation = GenerationConfig(method="greedy", max_length=8, known_words_only=True)
    keras.utils.set_random_seed(0)
    size = tokenizer.vocab_size
    model = build_seq2seq(size, size, embedding_dim=8, units=8)
    score = ValidationScore(tokenizer, pairs, generation, "rouge", 16, lexicon)
    score.set_model(model)
    logs = {}
    score.on_epoch_end(0, logs)
    expected, _ = evaluate(model, tokenizer, pairs, generation, "rouge", 16, lexicon)
    assert logs == {f"val_{name}": value for name, value in expected.items()}


def test_unknown_hyperparameter_is_refused():
    with pytest.raises(ValueError, match=r"Unknown hyperparameters \['heads'\]"):
        Seq2SeqHyperModel(12, 12, fixed={"heads": 4})


class Clock:
    """A clock that moves one second per training batch, whatever the machine."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now


class CountedBatches(keras.callbacks.Callback):
    """Counts each training's batches; each batch moves `clock` one second.

    keras-tuner deep-copies callbacks for each trial: the counts are kept on
    the class, which a copy shares.
    """

    batches = []
    clock = None

    def on_train_begin(self, logs=None):
        CountedBatches.batches.append(0)

    def on_train_batch_end(self, batch, logs=None):
        CountedBatches.batches[-1] += 1
        CountedBatches.clock.now += 1.0


@pytest.mark.slow  # a whole recipe run (or several), 30-50 s
def test_every_trial_gets_the_whole_time_budget(tmp_path, monkeypatch):
    # 3 trials of 30 one-second batches: the search takes far longer than
    # the 10-second budget, which each trial must get from its own start.
    clock = Clock()
    monkeypatch.setattr(callbacks, "time", clock)
    CountedBatches.batches, CountedBatches.clock = [], clock
    hypermodel = Seq2SeqHyperModel(12, 12, fixed={"units": 8, "embedding_dim": 4})
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective="val_loss",
        max_trials=3,
        directory=str(tmp_path),
        seed=0,
    )
    inputs, labels = reverse_task(480, 12, np.random.default_rng(0))
    tuner.search(
        inputs,
        labels,
        validation_data=(inputs, labels),
        batch_size=16,
        epochs=1,
        callbacks=[CountedBatches(), callbacks.TimeBudget(10 / 60)],
        verbose=0,
    )
    assert clock.now > 10 * 2
    assert len(CountedBatches.batches) == 3
    # Each trial runs until its own 10 seconds are over, then stops.
    assert CountedBatches.batches == [11, 11, 11]


def test_the_default_objective_does_not_depend_on_the_coverage_weight():
    inputs, labels = reverse_task(64, 12, np.random.default_rng(0))
    results = []
    for weight in (0.5, 2.0):
        keras.utils.set_random_seed(0)
        model = build_seq2seq(12, 12, 8, 16, coverage=True, coverage_loss_weight=weight)
        compile_seq2seq(model)
        if results:  # the same weights: the same predictions
            model.set_weights(results[0][0].get_weights())
        results.append((model, model.evaluate(inputs, labels, return_dict=True)))
    (_, first), (_, second) = results
    assert first["loss"] != pytest.approx(second["loss"])  # coverage loss weighted
    assert first["cross_entropy"] == pytest.approx(second["cross_entropy"])
    tune = load_tune()
    assert tune.MINIMIZED[0] == "val_cross_entropy"


def load_tune():
    """recipes/tune.py, imported by name (recipes/ is on the test path)."""
    import tune

    return tune


def tune_args(pairs_file, directory):
    return [
        "--recipe", "summarize", "--data", str(pairs_file), "--source-field", "text",
        "--target-field", "summary", "--quick", "--max-trials", "2", "--epochs", "1",
        "--directory", str(directory), "--vocab-size", "320", "--max-source-length", "24",
        "--max-target-length", "8",
    ]  # fmt: skip


def trial_folders(directory):
    return sorted(path.name for path in (directory / "trials").glob("trial_*"))


@pytest.mark.slow  # whole recipe or tuner runs, 20-30 s
def test_search_writes_the_best_and_resumes_without_rerunning(pairs_file, tmp_path):
    tune = load_tune()
    best = tune.main(tune_args(pairs_file, tmp_path))
    saved = json.loads((tmp_path / "best_hyperparameters.json").read_text())
    assert saved["values"] == best and saved["objective"] == "val_cross_entropy"
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
def test_chief_and_two_workers_account_for_every_trial(pairs_file, tmp_path):
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
def test_score_objective_and_export_of_the_best(pairs_file, tmp_path):
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


@pytest.mark.slow  # a tuner run, 10-20 s
def test_a_search_whose_every_trial_failed_says_so(pairs_file, tmp_path, monkeypatch):
    def fails(self, hp, model, *args, **kwargs):
        raise ValueError("this trial fails")

    monkeypatch.setattr(Seq2SeqHyperModel, "fit", fails)
    tune = load_tune()
    args = tune_args(pairs_file, tmp_path / "search")
    args[args.index("--max-trials") + 1] = "1"
    with pytest.raises(RuntimeError, match="every trial failed"):
        tune.main(args)
    assert not (tmp_path / "search" / "best_hyperparameters.json").exists()
