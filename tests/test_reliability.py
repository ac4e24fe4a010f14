"""What docs/guarantees.md promises: fuzzed inputs, kills, NaNs, seeds."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import hypothesis
import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import strategies as st

from s2s_keras import build_seq2seq
from s2s_keras.data.pairs import open_splits
from s2s_keras.data.pairs import tokenizer_for
from s2s_keras.export import write_export
from s2s_keras.models import compile_seq2seq
from s2s_keras.special_tokens import PAD_ID
from s2s_keras.text import SubwordTokenizer
from s2s_keras.training import runner as runner_module
from s2s_keras.training.config import DataConfig
from s2s_keras.training.config import ModelConfig
from s2s_keras.training.config import TrainingConfig
from s2s_keras.training.runner import Runner
from s2s_keras.training.runner import TrainingDiverged
from s2s_keras.training.runner import exported
from tests.conftest import WORDS
from tests.recipes.test_recipes import RECIPES
from tests.recipes.test_recipes import SUMMARIZE_RUN
from tests.recipes.test_recipes import quick_args
from tests.text.test_tokenizer import corpus

ROOT = RECIPES.parent
FUZZ = hypothesis.settings(
    max_examples=60, deadline=None, suppress_health_check=list(hypothesis.HealthCheck)
)
ANY_TEXT = st.one_of(
    st.text(), st.binary().map(lambda raw: raw.decode("utf-8", "replace"))
)


@pytest.fixture(scope="module")
def tokenizer():
    return SubwordTokenizer.train(corpus(), vocab_size=320)


@pytest.fixture(scope="module")
def served(tokenizer, tmp_path_factory):
    model = build_seq2seq(tokenizer.vocab_size, tokenizer.vocab_size, 8, 16)
    directory = tmp_path_factory.mktemp("export")
    write_export(
        directory, model, tokenizer, max_source_length=16, max_length=6, tflite=False
    )
    return tf.saved_model.load(str(directory / "saved_model"))


@FUZZ
@hypothesis.given(text=ANY_TEXT)
def test_tokenizer_takes_any_unicode(tokenizer, text):
    ids = tokenizer.tokenize([text]).to_tensor().numpy()
    assert ((ids > PAD_ID) & (ids < tokenizer.vocab_size)).all()
    (back,) = tokenizer.detokenize(ids).numpy()
    back.decode("utf-8")  # valid UTF-8, whatever came in


@FUZZ
@hypothesis.given(words=st.lists(st.sampled_from(WORDS), max_size=12))
def test_tokenizer_round_trips_text_of_its_own_alphabet(tokenizer, words):
    text = " ".join(words)
    ids = tokenizer.tokenize([text]).to_tensor()
    assert tokenizer.detokenize(ids).numpy()[0].decode("utf-8") == text


@FUZZ
@hypothesis.given(
    batch=st.lists(st.one_of(st.binary(), ANY_TEXT.map(str.encode)), max_size=5)
)
def test_serving_signature_answers_any_bytes(served, batch):
    outputs = served.signatures["serving_default"](text=tf.constant(batch, tf.string))
    texts = outputs["text"].numpy()
    assert len(texts) == len(batch)
    for text in texts:
        text.decode("utf-8")
    assert np.isfinite(outputs["scores"].numpy()).all()


class InjectNaN(keras.callbacks.Callback):
    """Turns one weight into NaN at the start of epoch `epoch` (0-based)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            weight = self.model.get_layer("decoder").output_projection.bias
            weight.assign(np.full(weight.shape, np.nan, "float32"))


def small_run(pairs_file, output, **training):
    """A quick run's runner, a compiled dot-attention model and its batches."""
    data = DataConfig(
        data=pairs_file, source_field="text", target_field="summary", quick=True,
        vocab_size=320, max_source_length=24, max_target_length=8,
    )  # fmt: skip
    runner = Runner(output, TrainingConfig(epochs=4, time_budget=None, **training))
    splits = open_splits(data)
    tokenizer = tokenizer_for(output / "tokenizer", splits.sample(), data.vocab_size)
    lengths = {"max_source_length": 24, "max_target_length": 8}
    train = splits.batches("train", tokenizer, **lengths)
    validation = splits.batches("validation", tokenizer, **lengths)
    return runner, build_model(tokenizer.vocab_size), train, validation


def build_model(vocab_size):
    model = build_seq2seq(
        vocab_size,
        vocab_size,
        **ModelConfig(units=64, embedding_dim=32).build_arguments(),
    )
    return compile_seq2seq(model)


def fit(runner, model, train, validation, callbacks=(), epochs=4):
    """Trains as the recipes do: `model.fit` with the run's callbacks."""
    run = runner.training_run("dot", model, callbacks)
    history = model.fit(
        train,
        validation_data=validation,
        epochs=epochs,
        callbacks=run.callbacks,
        verbose=0,
    )
    return run.finish(history)


def test_a_nan_loss_stops_training_and_keeps_the_last_good_backup(
    pairs_file,
    tmp_path,
    capsys,
):
    runner, model, train, validation = small_run(pairs_file, tmp_path / "out")
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 2"):
        fit(runner, model, train, validation, callbacks=[InjectNaN(1)])
    backup = tmp_path / "out" / "runs" / "dot" / "backup"
    metadata = json.loads((backup / "training_metadata.json").read_text())
    assert metadata["epoch"] == 1  # the one good epoch, not the bad one
    kept = build_model(model.get_layer("encoder").vocab_size)
    kept.load_weights(backup / "latest.weights.h5")
    assert all(np.isfinite(w).all() for w in kept.get_weights())

    # Rerunning resumes from that backup and finishes.
    runner, model, train, validation = small_run(pairs_file, tmp_path / "out")
    capsys.readouterr()
    history = fit(runner, model, train, validation).history
    printed = capsys.readouterr().out
    assert "1 epoch done, training from epoch 2." in printed
    assert len(history["loss"]) == 4 and np.isfinite(history["loss"]).all()
    assert not backup.exists()  # a finished run removes its backup


@pytest.mark.slow  # whole recipe or tuner runs, 20-30 s
def test_a_fresh_run_in_a_used_folder_logs_only_its_own_epochs(pairs_file, tmp_path):
    output = tmp_path / "out"
    runner, model, train, validation = small_run(pairs_file, output)
    assert len(fit(runner, model, train, validation).history["loss"]) == 4
    exported(output)  # the export has the first run's model: the next trains anew

    runner, model, train, validation = small_run(pairs_file, output)
    trained = fit(runner, model, train, validation, epochs=2)
    # Two epochs, not this run's two and the earlier run's epochs 3 and 4.
    assert len(trained.history["loss"]) == 2
    assert trained.history["loss"] == pytest.approx(
        [float(loss) for loss in model.history.history["loss"]]
    )


@pytest.mark.slow  # two whole recipe runs, 25-30 s
def test_a_finished_run_keeps_its_backup_when_asked_and_continues_from_it(
    pairs_file, tmp_path, capsys
):
    output = tmp_path / "out"
    backup = output / "runs" / "dot" / "backup"
    runner, model, train, validation = small_run(pairs_file, output)
    fit(runner, model, train, validation, epochs=1)
    assert not backup.exists()  # Keras's default: gone once training ends

    runner, model, train, validation = small_run(pairs_file, output, keep_backup=True)
    fit(runner, model, train, validation, epochs=2)
    steps = int(model.optimizer.iterations) // 2
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 2
    exported(output)

    # Continued with more epochs: epochs 3 and 4 on top of the backup's two.
    runner, model, train, validation = small_run(pairs_file, output, keep_backup=True)
    trained = fit(runner, model, train, validation, epochs=4)
    assert "2 epochs done, training from epoch 3." in capsys.readouterr().out
    assert int(model.optimizer.iterations) == 4 * steps
    assert len(trained.history["loss"]) == 4  # the first run's two, and these
    with pytest.raises(ValueError, match="Received: keep_backup='yes'"):
        TrainingConfig(keep_backup="yes")


class SlowFirstEpoch(keras.callbacks.Callback):
    """Sleeps `seconds` at the end of the first epoch, before its backup."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            time.sleep(self.seconds)


@pytest.mark.slow  # whole recipe or tuner runs, 20-30 s
def test_a_resumed_run_counts_the_minutes_trained_before_it_stopped(
    pairs_file, tmp_path
):
    runner, model, train, validation = small_run(pairs_file, tmp_path / "out")
    with pytest.raises(TrainingDiverged):
        fit(runner, model, train, validation, [SlowFirstEpoch(3), InjectNaN(1)])
    backup = tmp_path / "out" / "runs" / "dot" / "backup"
    before = json.loads((backup / "training_metadata.json").read_text())["minutes"]
    assert before >= 3 / 60  # the first epoch, its sleep included

    runner, model, train, validation = small_run(pairs_file, tmp_path / "out")
    run = runner.training_run("dot", model)
    history = model.fit(train, validation_data=validation, epochs=4, verbose=0,
                        callbacks=run.callbacks)  # fmt: skip
    trained = run.finish(history)
    # The card's training minutes: the epoch before the NaN, and the rerun's.
    assert trained.minutes == pytest.approx(before + run.stopwatch.minutes)
    assert trained.minutes > run.stopwatch.minutes


class WorseningValidation(keras.callbacks.Callback):
    """Reports a validation loss that rises every epoch (1, 2, 3, ...)."""

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = float(epoch + 1)


def test_a_script_that_trained_leaves_scoring_to_a_fresh_process(
    pairs_file, tmp_path, monkeypatch
):
    runner, model, train, validation = small_run(pairs_file, tmp_path / "out")
    monkeypatch.setattr(runner_module, "started_as_script", lambda: True)
    assert runner.scores_here  # nothing trained here yet
    fit(runner, model, train, validation, epochs=1)
    assert not runner.scores_here  # training's memory is not the export's
    kept = tmp_path / "out" / "runs" / "dot" / "trained.keras"
    assert kept.is_file()  # what the fresh process loads
    # A function called from another program cannot be started again.
    monkeypatch.setattr(runner_module, "started_as_script", lambda: False)
    assert runner.scores_here


@pytest.mark.slow  # a whole recipe run, 30-40 s
def test_a_recipe_run_scores_and_exports_in_a_fresh_process(pairs_file, tmp_path):
    output = tmp_path / "summarize"
    process = run_recipe(pairs_file, output)
    printed, _ = process.communicate(timeout=600)
    assert process.returncode == 0, printed[-3000:]
    assert "scoring and exporting in a fresh process" in printed
    assert printed.count("Using the model trained before") == 1
    assert printed.count("Using the lexicon in") == 1  # collected once, before
    assert (output / "saved_model" / "saved_model.pb").is_file()
    assert not list(output.glob("runs/*/trained.keras"))  # exported, deleted
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["training_minutes"] > 0  # the training process's minutes


def test_lr_decay_lowers_the_rate_after_an_epoch_without_progress(pairs_file, tmp_path):
    runner, model, train, validation = small_run(
        pairs_file, tmp_path / "out", lr_decay=0.5
    )
    history = fit(runner, model, train, validation, [WorseningValidation()]).history
    # Epochs 2 and 3 did not improve on epoch 1: the rate halved twice and
    # early stopping (patience 2) ended the run.
    assert len(history["loss"]) == 3
    learning_rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert learning_rate == pytest.approx(2e-3 / 4)


def run_recipe(pairs_file, output, extra=(), timeout=600):
    return subprocess.Popen(
        [
            sys.executable,
            str(RECIPES / "summarize.py"),
            *quick_args(pairs_file, output),
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "1"},
    )


def first_trained_epoch(printed):
    """The first epoch Keras printed ("Epoch 3/30" -> 3), 1-based."""
    return int(re.search(r"^Epoch (\d+)/", printed, re.MULTILINE).group(1))


def logged_epochs(history_file):
    """The epoch column of a CSVLogger file, 0-based, in the order logged."""
    lines = history_file.read_text().splitlines()[1:]
    return [int(line.split(",")[0]) for line in lines]


@pytest.mark.slow
def test_a_recipe_killed_mid_training_resumes_and_exports(pairs_file, tmp_path):
    output = tmp_path / "summarize"
    extra = ["--epochs", "30", "--units", "256", "--embedding-dim", "64"]
    process = run_recipe(pairs_file, output, extra)
    run = output / "runs" / SUMMARIZE_RUN
    metadata = run / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 300

    def epochs_backed_up():
        try:
            return json.loads(metadata.read_text())["epoch"]
        except (OSError, ValueError):  # not written yet
            return 0

    while epochs_backed_up() < 2:
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "no backup of 2 epochs was written"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)  # a power cut, mid-training
    process.wait()
    done = epochs_backed_up()  # k epochs in the backup
    assert not (output / "saved_model").exists()
    assert logged_epochs(run / "history.csv") == list(range(done))

    rerun = run_recipe(pairs_file, output, extra)
    printed, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, printed[-3000:]
    assert f"{done} epochs done, training from epoch {done + 1}." in printed
    assert first_trained_epoch(printed) == done + 1  # not 1: resumed
    epochs = logged_epochs(run / "history.csv")
    assert epochs == list(range(len(epochs))) and len(epochs) > done
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["epochs"] == len(epochs)  # every epoch once in the history
    assert (output / "saved_model").is_dir() and (output / "model.tflite").is_file()


EXPORT_AGAIN = """
    import sys
    import keras
    import s2s_keras
    from s2s_keras.export import write_export
    from s2s_keras.text import SubwordTokenizer
    directory = sys.argv[1]
    model = keras.saving.load_model(directory + "/model.keras")
    for weight in model.weights:
        weight.assign(weight * 0.5)
    tokenizer = SubwordTokenizer.load(directory + "/tokenizer")
    print("exporting", flush=True)
    write_export(directory, model, tokenizer, max_source_length=16, max_length=6)
"""

CHECK_EXPORT = """
    import sys, json
    import numpy as np
    import tensorflow as tf
    import tensorflow_text
    import keras
    import s2s_keras
    from ai_edge_litert.interpreter import Interpreter
    directory = sys.argv[1]
    served = tf.saved_model.load(directory + "/saved_model")
    text = served.signatures["serving_default"](text=tf.constant(["alpha beta"]))["text"]
    keras.saving.load_model(directory + "/model.keras", safe_mode=True)
    runner = Interpreter(model_path=directory + "/model.tflite").get_signature_runner("serving_default")
    runner(source_ids=np.zeros((1, 16), np.int32))
    json.load(open(directory + "/export.json"))
    print("loadable", text.shape)
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.5, 3.0, 8.0])
def test_a_kill_during_export_leaves_an_export_that_loads(tokenizer, tmp_path, delay):
    model = build_seq2seq(tokenizer.vocab_size, tokenizer.vocab_size, 8, 16)
    write_export(tmp_path, model, tokenizer, max_source_length=16, max_length=6)
    exporter = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(EXPORT_AGAIN), str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert exporter.stdout.readline().strip() == "exporting"
    time.sleep(delay)
    exporter.send_signal(signal.SIGKILL)
    exporter.wait()
    check = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHECK_EXPORT), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    assert "loadable" in check.stdout


@pytest.mark.slow
def test_the_same_seed_and_step_budget_give_the_same_metrics(pairs_file, tmp_path):
    # About 9 batches an epoch: 30 steps end in the 4th epoch, whatever the
    # machine's speed (no time budget is given, so none applies).
    scores = []
    for run in range(2):
        output = tmp_path / f"run{run}"
        process = run_recipe(
            pairs_file, output, ["--epochs", "6", "--seed", "7", "--max-steps", "30"]
        )
        printed, _ = process.communicate(timeout=600)
        assert process.returncode == 0, printed[-3000:]
        assert "Step budget of 30 steps reached: stopping." in printed
        assert "Time budget" not in printed
        results = json.loads((output / "metrics.json").read_text())
        assert results["epochs"] < 6 and results["config"]["time_budget"] is None
        scores.append((results["scores"], results["epochs"]))
    assert scores[0] == scores[1]


@pytest.mark.slow  # a whole recipe run (or several), 30-50 s
def test_a_crash_after_training_keeps_the_trained_model_for_the_rerun(
    pairs_file,
    tmp_path,
    monkeypatch,
    capsys,
):
    import summarize

    output = tmp_path / "summarize"
    real_evaluate = summarize.evaluate

    def crash(*args, **kwargs):
        raise MemoryError("killed while generating")

    monkeypatch.setattr(summarize, "evaluate", crash)
    with pytest.raises(MemoryError):
        summarize.main(quick_args(pairs_file, output))
    trained = output / "runs" / SUMMARIZE_RUN / "trained.keras"
    assert trained.is_file()

    monkeypatch.setattr(summarize, "evaluate", real_evaluate)
    capsys.readouterr()
    summarize.main(quick_args(pairs_file, output))
    printed = capsys.readouterr().out
    assert "Using the model trained before" in printed
    assert "val_loss:" not in printed  # not trained again
    assert (output / "saved_model").is_dir() and not trained.exists()

    # Other flags build another model: that one is trained, not reused (it
    # crashes too once trained: its export would add nothing to the test).
    monkeypatch.setattr(summarize, "evaluate", crash)
    with pytest.raises(MemoryError):
        summarize.main(quick_args(pairs_file, output))
    capsys.readouterr()
    with pytest.raises(MemoryError):
        summarize.main(quick_args(pairs_file, output) + ["--units", "48"])
    printed = capsys.readouterr().out
    assert "built with other flags: training anew" in printed
    assert "val_loss:" in printed
