"""Keras callbacks the recipes train with: budgets, a NaN guard, a stopwatch.

- `TimeBudget(minutes)`: stops once the minutes are spent, from the start
  of training, mid-epoch if need be (workers agree on when).
- `StepBudget(steps)`: stops after that many optimizer steps in all.
- `StopOnNaN(backup)`: stops at the first NaN or infinite loss, and keeps
  the last good backup.
- `Stopwatch()`: the minutes `fit` took.
- `ReleaseFreedMemory(every)`: the heap's free pages back to the system,
  every `every` batches, so a long run's memory does not creep up.
- `averaged(ema_momentum)`: validation and the kept model on the moving
  average of the weights, for a model compiled with `ema_momentum`.
- `AverageEpochs(epochs, folder, early_stopping)`: the kept model is the
  mean of the weights of the best epoch and those before it.
"""

import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from s2s_keras.average import mean_weights
from s2s_keras.training import distribute
from s2s_keras.utils.atomic_files import atomic_path
from s2s_keras.utils.console import log
from s2s_keras.utils.memory import release_freed_memory


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite.

    It freezes the backup first, so the weights that went bad are never
    saved over the last good ones, and the backup is kept for a rerun.

    Args:
        backup: the run's `distribute.ClusterBackupAndRestore`.

    Attributes:
        where: `(epoch, batch, loss)` of the bad batch, or None.
    """

    def __init__(self, backup):
        super().__init__()
        self.backup = backup
        self.where = None
        self.epoch = 0

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.where = (self.epoch, batch, float(loss))
            self.backup.freeze()
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `minutes` have passed, mid-epoch if need be.

    The clock starts when training starts (`on_train_begin`), not when the
    callback is made: every model trained with it, and every keras-tuner
    trial (which trains a copy of it), gets the whole budget.

    Keras then still validates the model on the partial epoch, so early
    stopping and the backup see it. With several workers, every
    `check_every` batches they agree (the longest time any of them has
    run) so that all stop at the same batch.

    Args:
        minutes: float, the budget.
        check_every: int, batches between the workers' agreements.
    """

    def __init__(self, minutes, check_every=10):
        super().__init__()
        self.minutes = minutes
        self.check_every = check_every
        self.workers = distribute.worker_count()  # read TF_CONFIG once, not per batch
        self.start = None

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def _minutes(self):
        minutes = (time.monotonic() - self.start) / 60.0
        if self.workers == 1:
            return minutes
        strategy = self.model.distribute_strategy
        # Reductions are SUM or MEAN only: gather every replica's time instead.
        per_replica = strategy.run(lambda: tf.constant([minutes], tf.float32))
        return float(tf.reduce_max(strategy.gather(per_replica, axis=0)))

    def on_train_batch_end(self, batch, logs=None):
        if self.model.stop_training:
            return
        if self.workers > 1 and batch % self.check_every:
            return
        if self._minutes() > self.minutes:
            log(f"\nTime budget of {self.minutes:g} minutes reached: stopping.")
            self.model.stop_training = True


class StepBudget(keras.callbacks.Callback):
    """Stops training after `steps` optimizer steps in all, mid-epoch if need be.

    It counts the optimizer's steps, which a resumed run restores with the
    weights: the budget is the same on any machine, loaded or not, and
    across a crash and its rerun.

    Args:
        steps: int, the budget.
    """

    def __init__(self, steps):
        super().__init__()
        self.steps = steps

    def on_train_batch_end(self, batch, logs=None):
        if not self.model.stop_training and (
            int(self.model.optimizer.iterations) >= self.steps
        ):
            log(f"\nStep budget of {self.steps} steps reached: stopping.")
            self.model.stop_training = True


class Stopwatch(keras.callbacks.Callback):
    """Measures `fit`: `minutes` from the start to the end of training."""

    def __init__(self):
        super().__init__()
        self.start = None
        self.minutes = 0.0

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_train_end(self, logs=None):
        self.minutes = (time.monotonic() - self.start) / 60.0


def budgets(time_budget=None, max_steps=None):
    """The `TimeBudget` and `StepBudget` callbacks for the budgets given."""
    callbacks = []
    if time_budget:
        callbacks.append(TimeBudget(time_budget))
    if max_steps:
        callbacks.append(StepBudget(max_steps))
    return callbacks


class ReleaseFreedMemory(keras.callbacks.Callback):
    """Hands the heap's free pages back to the system as training goes.

    Each step allocates and frees its activations and gradients, and each
    validation its own buffers; glibc's malloc keeps the freed memory in its
    heaps, fragmented, so a run's resident memory creeps up as it trains:
    the default summarizer's grew by 0.12 GB over its 20 minutes
    (docs/benchmarks.md). This returns it (`utils.memory`) every `every`
    batches (the trim alone, a few milliseconds) and at each epoch's end
    (Python's garbage collected too).

    Args:
        every: int, batches between two releases.
    """

    def __init__(self, every=100):
        super().__init__()
        self.every = every

    def on_train_batch_end(self, batch, logs=None):
        if (batch + 1) % self.every == 0:
            release_freed_memory(collect_garbage=False)

    def on_epoch_end(self, epoch, logs=None):
        release_freed_memory()


def averaged(ema_momentum=None):
    """Keras' `SwapEMAWeights` for a model compiled with `ema_momentum`, if given.

    Validation runs on the moving average of the weights, and so do the
    callbacks after it at each epoch's end: early stopping keeps the
    average of its best epoch, which is the model `fit` leaves. Put it after
    the backup, which then saves the weights being trained (the average is
    saved beside them, in the optimizer's variables).
    """
    if ema_momentum is None:
        return []
    return [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)]


class AverageEpochs(keras.callbacks.Callback):
    """Leaves the mean of the weights of the best epoch and the epochs before it.

    Checkpoint averaging (OpenNMT's `average_models`, fairseq's
    `average_checkpoints`), done by the run: at each epoch's end the weights
    it validated (the moving average, with `ema_momentum`) are saved in
    `folder` as `epoch-NNN.weights.h5`, so a resumed run finds its earlier
    epochs there; those too old to be averaged are deleted. At the end of
    training, once early stopping has restored its best epoch, the model
    gets the mean of that epoch's weights and of the `epochs - 1` epochs
    before it (fewer where the run has fewer; one alone changes nothing).

    Put it after the `averaged` callback (it saves what validation saw) and
    after the run's `EarlyStopping` (it averages up to the epoch restored).

    Args:
        epochs: int >= 2, the epochs averaged.
        folder: the folder the epochs' weights are kept in.
        early_stopping: the run's `keras.callbacks.EarlyStopping` (with
            `restore_best_weights=True`), which says the best epoch.

    Attributes:
        averaged: the epochs (numbered from 1) whose mean the model holds,
            or `[]` before the end of training.
    """

    def __init__(self, epochs, folder, early_stopping):
        super().__init__()
        if not isinstance(epochs, int) or epochs < 2:
            raise ValueError(f"epochs must be an int >= 2. Received: {epochs!r}")
        self.epochs = epochs
        self.folder = pathlib.Path(folder)
        self.early_stopping = early_stopping
        self.averaged = []

    def path(self, epoch):
        """The weights file of `epoch` (numbered from 1)."""
        return self.folder / f"epoch-{epoch:03d}.weights.h5"

    def on_epoch_end(self, epoch, logs=None):
        with atomic_path(self.path(epoch + 1)) as staging:
            self.model.save_weights(staging)
        # The best epoch is at most `patience` epochs back; nothing before
        # the window that ends there can be averaged.
        oldest = epoch + 2 - self.epochs - self.early_stopping.patience
        for kept in self.folder.glob("epoch-*.weights.h5"):
            if int(kept.name[len("epoch-") : -len(".weights.h5")]) < oldest:
                kept.unlink()

    def on_train_end(self, logs=None):
        if self.early_stopping.best_weights is None:
            return  # no epoch ended
        best = self.early_stopping.best_epoch + 1
        epochs = [
            epoch
            for epoch in range(best - self.epochs + 1, best + 1)
            if self.path(epoch).is_file()
        ]
        if len(epochs) < 2:
            log(f"Kept epoch {best} alone: no epoch before it to average with.")
            return
        weights = []
        for epoch in epochs:
            self.model.load_weights(self.path(epoch))
            weights.append(self.model.get_weights())
        self.model.set_weights(mean_weights(weights))
        self.averaged = epochs
        log(
            f"Averaged the weights of epochs {epochs[0]}-{epochs[-1]} "
            f"(the best, {best}, and the {len(epochs) - 1} before it)."
        )


def plateau(lr_decay=None):
    """`ReduceLROnPlateau` on the validation loss for `lr_decay`, if given.

    An epoch that does not lower the validation loss multiplies the learning
    rate by `lr_decay`; the early stopping's patience then gives the lower
    rate an epoch to find a better model.
    """
    if not lr_decay:
        return []
    return [keras.callbacks.ReduceLROnPlateau(factor=lr_decay, patience=0, verbose=1)]
