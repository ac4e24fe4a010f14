"""Weight averaging (`--ema-momentum`): the model a run keeps is the average it validated."""

import keras
import numpy as np
import pytest

from s2s_keras.models import compile_seq2seq
from s2s_keras.training.config import TrainingConfig
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
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
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
