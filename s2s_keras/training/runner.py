"""Where and how models train: the strategy, this machine's role, each run's folder.

    runner = Runner("saved_models/summarize", TrainingConfig(epochs=3))
    with runner.scope():
        model = build_seq2seq(...)
        compile_seq2seq(model)
    run = runner.training_run("dot", model)
    history = None
    if not run.trained_before:  # a model trained before a crash is kept
        history = model.fit(train, ..., callbacks=run.callbacks)
    trained = run.finish(history)  # a TrainedModel: model, history, minutes

A `Runner` is made once, before any TensorFlow op runs: a multi-worker
strategy sets up its collective ops at program start-up or not at all. A
`TrainingRun` is one model's training in `<output>/runs/<name>/`: its
backup (a rerun resumes from it), its CSV log and TensorBoard logs (on the
chief), its NaN guard, early stopping and budgets, and the trained model
kept until the export is written.
"""

import csv
import dataclasses
import json
import os
import pathlib

import keras
import tensorflow as tf

from s2s_keras.models import float32_config
from s2s_keras.models import float32_copy
from s2s_keras.models import rebuilt
from s2s_keras.training import distribute
from s2s_keras.training.callbacks import AverageEpochs
from s2s_keras.training.callbacks import ReleaseFreedMemory
from s2s_keras.training.callbacks import StopOnNaN
from s2s_keras.training.callbacks import Stopwatch
from s2s_keras.training.callbacks import averaged
from s2s_keras.training.callbacks import budgets
from s2s_keras.training.callbacks import plateau
from s2s_keras.training.config import TrainingConfig
from s2s_keras.utils.atomic_files import atomic_path
from s2s_keras.utils.backends import run_again_on
from s2s_keras.utils.backends import started_as_script
from s2s_keras.utils.console import log

TRAINED = "trained.keras"  # a run folder's trained model, kept until exported
EPOCHS = "epochs"  # a run folder's weights of each epoch, kept to average them


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good backup is kept."""


@dataclasses.dataclass
class TrainedModel:
    """A trained model, its per-epoch history, the minutes and backend it trained on."""

    model: keras.Model
    history: dict
    minutes: float
    backend: str = "tensorflow"


class Runner:
    """The strategy, this machine's role and the output folder of a program.

    Made first: it sets the strategy, the precision and the seeds (Python's,
    NumPy's and the backend's, `training.seed`).

    Args:
        output: the folder runs, logs and exports go to.
        training: a `TrainingConfig`: strategy, precision, budgets, epochs.

    Attributes:
        strategy: the `tf.distribute.Strategy`; build models in `scope()`.
        chief: whether this machine writes logs, scores and exports.
        workers: the number of machines training together.
        worker_index: this machine's place among them (0 is the chief); the
            training data is split by it (`data.Splits`).
        verbose: the `fit` verbosity: a line an epoch under CI, else a bar.
        backend: the Keras backend models train on (`"tensorflow"`, `"jax"`).
        scores_here: whether this process scores and exports what it trains:
            the chief on TensorFlow, until it has trained a model itself. A
            chief started as a script (one worker) then hands its trained
            models over to a fresh process (`continue_in_fresh_process`), so
            that what training held (its graphs, data pipeline, optimizer) is
            freed before the export, whose peak comes on top of it; so does a
            chief that trained on another backend.

    Raises:
        ValueError: a distribution strategy on a backend other than
            TensorFlow (`tf.distribute` is TensorFlow's).
    """

    def __init__(self, output, training=None):
        self.output = pathlib.Path(output)
        self.training = training or TrainingConfig()
        self.backend = keras.backend.backend()
        self.strategy = distribute.get_strategy(self.training.strategy)
        if self.backend != "tensorflow" and (
            self.strategy is not tf.distribute.get_strategy()
        ):
            raise ValueError(
                f"--backend {self.backend} trains on one device; "
                f"--strategy {self.training.strategy} (here "
                f"{type(self.strategy).__name__}) needs --backend tensorflow."
            )
        self.precision = distribute.set_precision(self.training.precision)
        if self.training.precision == "auto":
            log(f"Precision: {self.precision} (--precision auto on this machine)")
        self.chief = distribute.is_chief()
        self.workers = distribute.worker_count()
        self.worker_index = distribute.worker_index()
        self.verbose = 2 if os.environ.get("CI") else 1
        replicas = self.strategy.num_replicas_in_sync
        if replicas > 1:
            log(f"Training on {replicas} replicas ({self.training.strategy})")
        keras.utils.set_random_seed(self.training.seed)  # Python, NumPy, backend
        self.trained_here = False  # set by `TrainingRun.finish`

    def scope(self):
        """The strategy's scope: build and compile models inside it."""
        return self.strategy.scope()

    @property
    def scores_here(self):
        if not self.chief:
            return False
        if self.backend != "tensorflow":
            return False
        return not (self.trained_here and self.workers == 1 and started_as_script())

    def continue_in_fresh_process(self):
        """Runs this program's command again on TensorFlow, in this process's place.

        Generation, scoring and export are TensorFlow's, and they start from
        what training left: each trained model is kept in its run folder
        (`TrainingRun.finish`, a `.keras` file any backend loads); the same
        command with `--backend tensorflow` finds them, skips training and
        goes on (`backends.run_again_on`), without the memory training held.
        Never returns.
        """
        run_again_on(
            "tensorflow",
            f"Trained on {self.backend}; scoring and exporting in a fresh process",
            ["--backend", "tensorflow"],
        )

    def training_run(self, name, model, callbacks=(), output=None):
        """The `TrainingRun` of `model` in `<output>/runs/<name>/`.

        `output` defaults to the runner's.
        """
        return TrainingRun(self, name, model, callbacks, output)

    def plain(self, model):
        """`model` with plain variables computing in float32, for generation and export.

        Under a distribution strategy the variables are distributed ones: the
        same model is rebuilt from its config outside the strategy and the
        trained weights are copied into it. A model trained under mixed
        precision is rebuilt to compute in float32 (`models.float32_copy`).
        """
        if self.strategy is tf.distribute.get_strategy():
            return float32_copy(model)
        return rebuilt(model, float32_config(model.get_config()))


class TrainingRun:
    """One model's training; see the module docstring.

    Args:
        runner: the `Runner`.
        name: the run folder's name (one per model flavour).
        model: the compiled model to train.
        callbacks: callbacks of the caller's, run before the run's own.
        output: the folder whose `runs/` holds the run; the runner's if None.

    Attributes:
        callbacks: the list to pass to `model.fit`.
        trained_before: whether the folder holds this model trained by an
            earlier run that stopped before exporting; `finish` returns it.
    """

    def __init__(self, runner, name, model, callbacks=(), output=None):
        self.runner = runner
        self.model = model
        self.folder = pathlib.Path(output or runner.output) / "runs" / name
        self.history_file = self.folder / "history.csv"
        self.trained_file = self.folder / TRAINED
        self.earlier = self._load_trained()
        # The chief backs up and logs; every worker resumes from its backup.
        # The callback says when it resumes.
        training = runner.training
        self.backup = distribute.ClusterBackupAndRestore(
            str(self.folder / "backup"), keep=training.keep_backup
        )
        self.nan_guard = StopOnNaN(self.backup)
        self.stopwatch = Stopwatch()
        # The chief logs an epoch before it backs it up: a kill between the
        # two runs that epoch again (read_history keeps its last row).
        logs = [
            keras.callbacks.CSVLogger(str(self.history_file), append=True),
            keras.callbacks.TensorBoard(str(self.folder / "logs")),
        ]
        self.early_stopping = keras.callbacks.EarlyStopping(
            patience=2, restore_best_weights=True
        )
        self.callbacks = [
            *callbacks,
            *(logs if runner.chief else []),
            self.backup,
            self.nan_guard,
            *averaged(training.ema_momentum),  # after the backup: see averaged
            *plateau(training.lr_decay),
            self.early_stopping,
            *self._averaging(training.average_epochs),  # after early stopping
            *budgets(training.time_budget, training.max_steps),
            self.stopwatch,
            ReleaseFreedMemory(),
        ]
        self.folder.mkdir(parents=True, exist_ok=True)
        if runner.chief and self.earlier is None and not self.backup.holds_backup:
            # Training starts at epoch 1: the epochs an earlier, finished run
            # logged here are not this run's (its later ones would outlive it),
            # nor are the weights it kept of its epochs.
            self.history_file.unlink(missing_ok=True)
            for kept in (self.folder / EPOCHS).glob("*.weights.h5"):
                kept.unlink()

    def _averaging(self, epochs):
        """`AverageEpochs` on the chief, where `epochs` > 1 (the others' models
        are not kept)."""
        if epochs == 1 or not self.runner.chief:
            return []
        return [AverageEpochs(epochs, self.folder / EPOCHS, self.early_stopping)]

    @property
    def minutes(self):
        """The minutes of training: this run's and those of the backup it resumed."""
        return self.backup.minutes_before + self.stopwatch.minutes

    @property
    def trained_before(self):
        return self.earlier is not None

    def fit(self, train, validation, epochs, steps_per_epoch=None):
        """`model.fit` with the run's callbacks (unless trained before), then `finish`.

        The recipes write these steps out; this is them for programs that
        only need the trained model (the search's retraining, benchmarks).
        """
        history = None
        if not self.trained_before:
            history = self.model.fit(
                train,
                validation_data=validation,
                epochs=epochs,
                steps_per_epoch=steps_per_epoch,
                shuffle=False,  # the batches shuffle themselves, seeded
                callbacks=self.callbacks,
                verbose=self.runner.verbose,
            )
        return self.finish(history)

    def finish(self, history=None):
        """The trained model, checked, and kept on the chief until exported.

        Args:
            history: what `model.fit` returned (None when `trained_before`).

        Returns:
            A `TrainedModel`.

        Raises:
            TrainingDiverged: the loss became NaN or infinite; the backup of
                the last good epoch is kept.
        """
        if self.earlier is not None:
            return self.earlier
        if self.nan_guard.where is not None:
            epoch, batch, loss = self.nan_guard.where
            raise TrainingDiverged(
                f"the training loss became {loss} at epoch {epoch + 1}, batch "
                f"{batch + 1}. The last good backup is kept in "
                f"{self.folder / 'backup'}: lower --learning-rate (or check the "
                "data) and run the same command again to resume from it."
            )
        backend = self.runner.backend
        self.runner.trained_here = True
        if not self.runner.chief:
            return TrainedModel(self.model, history.history, self.minutes, backend)
        model = self.runner.plain(self.model)
        trained = TrainedModel(
            model, read_history(self.history_file), self.minutes, backend
        )
        # The minutes go first: the model file, renamed into place last, is
        # what says both are there.
        self.trained_file.with_suffix(".json").write_text(
            json.dumps({"minutes": trained.minutes, "backend": backend})
        )
        with atomic_path(self.trained_file) as staging:
            model.save(staging)
        return trained

    def _load_trained(self):
        """The `TrainedModel` an earlier run left here, if built the same way."""
        if not self.trained_file.is_file() or self.runner.workers > 1:
            return None
        earlier = keras.saving.load_model(self.trained_file, safe_mode=True)
        # The kept model computes in float32 (`plain`): compare it so.
        if json.dumps(
            float32_config(earlier.get_config()), sort_keys=True
        ) != json.dumps(float32_config(self.model.get_config()), sort_keys=True):
            log(f"{self.trained_file} was built with other flags: training anew.")
            return None
        log(f"Using the model trained before, kept in {self.trained_file}")
        kept = json.loads(self.trained_file.with_suffix(".json").read_text())
        return TrainedModel(
            earlier,
            read_history(self.history_file),
            kept["minutes"],
            kept.get("backend", "tensorflow"),
        )


def exported(output):
    """Deletes the trained models kept in `<output>/runs/`, and the epochs'
    weights kept to average them: the export has them."""
    for kept in pathlib.Path(output).glob(f"runs/*/{EPOCHS}/*.weights.h5"):
        kept.unlink()
    for kept in pathlib.Path(output).glob(f"runs/*/{TRAINED}"):
        kept.unlink()
        kept.with_suffix(".json").unlink(missing_ok=True)


def read_history(path):
    """The per-epoch history from a CSVLogger file (all runs, resumed ones too).

    An epoch logged twice (a run that diverged, then resumed from the backup
    before it) counts once, as its last run.
    """
    with open(path, encoding="utf-8") as file:
        by_epoch = {int(row["epoch"]): row for row in csv.DictReader(file)}
    rows = [by_epoch[epoch] for epoch in sorted(by_epoch)]
    return {
        key: [float(row[key]) for row in rows]
        for key in (rows[0] if rows else {})
        if key != "epoch"
    }
