"""Weight averaging (`--ema-momentum`): the model a run keeps is the average it validated."""

import keras
import numpy as np
import pytest

from s2s_keras.models import compile_seq2seq
from s2s_keras.training.callbacks import AverageEpochs
from s2s_keras.training.config import TrainingConfig
from s2s_keras.training.runner import exported
from tests.test_reliability import fit
from tests.test_reliability import small_run

MOMENTUM = 0.8


class MovingAverage(keras.callbacks.Callback):
    """The weights' moving average, computed beside the optimizer's, per epoch."""

    def __init__(self, momentum):
        super().__init__()
        self.momentum = momentum
        self.average = None
        self.at_epoch_end = []  # the average
        self.trained_at_epoch_end = []  # the weights being trained

    def on_train_batch_end(self, batch, logs=None):
        weights = [np.array(w) for w in self.model.trainable_weights]
        if self.average is None:
            self.average = weights
        else:
            self.average = [
                self.momentum * a + (1 - self.momentum) * w
                for a, w in zip(self.average, weights, strict=True)
            ]
        self.last = weights

    def on_epoch_end(self, epoch, logs=None):
        self.at_epoch_end.append([a.copy() for a in self.average])
        self.trained_at_epoch_end.append(self.last)


class Crash(keras.callbacks.Callback):
    """Kills training as epoch `at` (from 0) begins."""

    def __init__(self, at=1):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt("killed")


def test_the_kept_model_is_the_moving_average_of_its_best_epoch(pairs_file, tmp_path):
    runner, model, train, validation = small_run(
        pairs_file, tmp_path, ema_momentum=MOMENTUM, max_steps=25
    )
    compile_seq2seq(model, 1e-2, ema_momentum=MOMENTUM)
    batches = sum(1 for _ in train)
    assert 25 % batches, "the step budget should stop mid-epoch"
    # First in the list: it reads the weights being trained at each batch's end.
    tracker = MovingAverage(MOMENTUM)
    trained = fit(runner, model, train, validation, callbacks=[tracker])
    validated = trained.history["val_loss"]
    best = int(np.argmin(validated))
    kept = [np.array(w) for w in trained.model.trainable_weights]
    for ours, theirs in zip(tracker.at_epoch_end[best], kept, strict=True):
        np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-5)
    assert not all(
        np.allclose(w, a) for w, a in zip(tracker.last, kept, strict=True)
    ), "the kept weights are the last ones, not their average"
    # What the run validated is what it keeps.
    loss = model.evaluate(validation, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(validated[best], rel=1e-4)


def test_the_backup_holds_the_weights_being_trained_not_their_average(
    pairs_file, tmp_path
):
    """A resumed run goes on from the weights it was training (the average is
    in the optimizer's variables, beside them)."""
    runner, model, train, validation = small_run(
        pairs_file, tmp_path, ema_momentum=MOMENTUM
    )
    compile_seq2seq(model, 1e-2, ema_momentum=MOMENTUM)
    tracker = MovingAverage(MOMENTUM)
    with pytest.raises(KeyboardInterrupt):
        fit(runner, model, train, validation, callbacks=[tracker, Crash()])
    backup = tmp_path / "runs" / "dot" / "backup" / "latest.weights.h5"
    model.load_weights(backup)
    for saved, trained in zip(
        model.trainable_weights, tracker.trained_at_epoch_end[0], strict=True
    ):
        # Keras swaps the two by sums and differences: a rounding apart.
        np.testing.assert_allclose(np.array(saved), trained, rtol=1e-5, atol=1e-6)


def test_a_momentum_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="ema_momentum must be between 0 and 1"):
        TrainingConfig(ema_momentum=1.0)


class EpochWeights(keras.callbacks.Callback):
    """Every weight of the model at each epoch's end, by epoch (from 1)."""

    def __init__(self):
        super().__init__()
        self.by_epoch = {}

    def on_epoch_end(self, epoch, logs=None):
        self.by_epoch[epoch + 1] = [np.array(w) for w in self.model.get_weights()]


def averaging_callback(run):
    (callback,) = [c for c in run.callbacks if isinstance(c, AverageEpochs)]
    return callback


def assert_mean_of(model, tracker, epochs):
    for index, kept in enumerate(model.get_weights()):
        mean = np.mean([tracker.by_epoch[epoch][index] for epoch in epochs], axis=0)
        np.testing.assert_allclose(kept, mean, rtol=1e-5, atol=1e-6)


def test_the_kept_model_is_the_mean_of_the_best_epoch_and_those_before_it(
    pairs_file, tmp_path
):
    runner, model, train, validation = small_run(pairs_file, tmp_path, average_epochs=2)
    compile_seq2seq(model, 1e-2)
    tracker = EpochWeights()
    run = runner.training_run("dot", model, [tracker])
    history = model.fit(
        train, validation_data=validation, epochs=5, callbacks=run.callbacks, verbose=0
    )
    best = int(np.argmin(history.history["val_loss"])) + 1
    assert best >= 2, f"the tiny run should improve for 2 epochs; best was {best}"
    assert averaging_callback(run).averaged == [best - 1, best]
    trained = run.finish(history)
    assert_mean_of(trained.model, tracker, [best - 1, best])
    # Epoch 1 cannot be averaged any more once epoch 5 has ended (2 epochs
    # ending at the best, which early stopping keeps within 2 of the last).
    kept = sorted(p.name for p in (run.folder / "epochs").glob("*.weights.h5"))
    assert kept == [f"epoch-{epoch:03d}.weights.h5" for epoch in range(2, 6)]
    exported(tmp_path)
    assert not list((run.folder / "epochs").glob("*.weights.h5"))


def test_a_resumed_run_averages_the_epochs_kept_before_the_crash(pairs_file, tmp_path):
    runner, model, train, validation = small_run(pairs_file, tmp_path, average_epochs=3)
    compile_seq2seq(model, 1e-2)
    tracker = EpochWeights()
    with pytest.raises(KeyboardInterrupt):
        fit(runner, model, train, validation, callbacks=[tracker, Crash(at=2)])
    assert sorted(tracker.by_epoch) == [1, 2]
    model = keras.models.clone_model(model)  # a fresh process's model
    compile_seq2seq(model, 1e-2)
    trained = fit(runner, model, train, validation, callbacks=[tracker])
    assert sorted(tracker.by_epoch) == [1, 2, 3, 4]
    best = int(np.argmin(trained.history["val_loss"])) + 1
    assert best >= 3, f"the tiny run should improve for 3 epochs; best was {best}"
    assert_mean_of(trained.model, tracker, [best - 2, best - 1, best])


def test_averaging_one_epoch_adds_no_callback(pairs_file, tmp_path):
    runner, model, *_ = small_run(pairs_file, tmp_path)
    run = runner.training_run("dot", model)
    assert not [c for c in run.callbacks if isinstance(c, AverageEpochs)]


@pytest.mark.parametrize("epochs", [0, -1, 1.5, True])
def test_average_epochs_must_be_a_positive_int(epochs):
    with pytest.raises(ValueError, match="average_epochs"):
        TrainingConfig(average_epochs=epochs)


def test_a_best_first_epoch_is_kept_alone_and_said(tmp_path, capsys):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    early_stopping = keras.callbacks.EarlyStopping(
        patience=2, restore_best_weights=True
    )
    early_stopping.best_weights, early_stopping.best_epoch = model.get_weights(), 0
    callback = AverageEpochs(2, tmp_path, early_stopping)
    callback.set_model(model)
    before = model.get_weights()
    callback.on_epoch_end(0)
    callback.on_train_end()
    assert callback.averaged == []
    assert "Kept epoch 1 alone" in capsys.readouterr().out
    for kept, weight in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(kept, weight)


def test_fewer_than_two_epochs_to_average_is_refused(tmp_path):
    early_stopping = keras.callbacks.EarlyStopping()
    with pytest.raises(ValueError, match="epochs must be an int >= 2. Received: 1"):
        AverageEpochs(1, tmp_path, early_stopping)
