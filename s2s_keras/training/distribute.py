"""Training under `tf.distribute`: one strategy by name, and what follows from it.

The recipes train on one CPU, several GPUs, several machines or a TPU with
the same code: pick a strategy, build and compile the model inside
`strategy.scope()`, feed it the global batch, and let only the chief write.

    strategy = get_strategy("auto")
    with strategy.scope():
        model = build_seq2seq(...)
        model.compile(...)
    splits = open_splits(data, worker_count(), worker_index())
    model.fit(splits.batches("train", ...), ...)
    if is_chief():
        write_export(...)

| name           | what it is                                                 |
|----------------|------------------------------------------------------------|
| `auto`         | `multi-worker` if `TF_CONFIG` names a cluster of several   |
|                | tasks, else `mirrored` with several GPUs, else the default |
| `one-device`   | `OneDeviceStrategy` on the first GPU, or the CPU           |
| `mirrored`     | `MirroredStrategy`: every local GPU (or logical CPU)       |
| `multi-worker` | `MultiWorkerMirroredStrategy`; the cluster from `TF_CONFIG`|
| `tpu`          | `TPUStrategy`; the TPU from `$TPU_NAME` (or the local one) |

With several workers each reads its own shard files of the training split
(`data.Splits`; `worker_index` says which) and the per-worker batch is the
global batch divided by the number of workers.
"""

import json
import os
import time

import keras
import tensorflow as tf

from s2s_keras.utils.atomic_files import atomic_path
from s2s_keras.utils.atomic_files import atomic_write
from s2s_keras.utils.checks import check_choice
from s2s_keras.utils.keras_internals import require

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker", "tpu")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def cluster_spec():
    """The `TF_CONFIG` environment variable as a dict (`{}` when unset)."""
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"TF_CONFIG is not valid JSON ({error}). Received: TF_CONFIG={text!r}"
        ) from None
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise ValueError(
            "TF_CONFIG must be a JSON object with 'cluster' and 'task'. "
            f"Received: TF_CONFIG={text!r}"
        )
    return config


def _number_of_tasks(config):
    return sum(
        len(addresses)
        for kind, addresses in config.get("cluster", {}).items()
        if kind in ("chief", "worker")
    )


def get_strategy(name="auto"):
    """A `tf.distribute.Strategy` by name; see the module docstring.

    Args:
        name: one of `STRATEGIES`.

    Returns:
        The strategy. Build and compile models inside its `scope()`.

    Raises:
        ValueError: an unknown name, `multi-worker` without a cluster in
            `TF_CONFIG`, or `tpu` with no TPU to connect to.
    """
    check_choice("strategy", name, STRATEGIES)
    # Physical, not logical, devices: listing logical ones starts the runtime,
    # after which a multi-worker strategy can no longer set up its collectives.
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        if _number_of_tasks(cluster_spec()) > 1:
            name = "multi-worker"
        elif len(gpus) > 1:
            name = "mirrored"
        else:
            return tf.distribute.get_strategy()  # the default: no distribution
    if name == "one-device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        if not cluster_spec():
            raise ValueError(
                "The multi-worker strategy reads its cluster from TF_CONFIG, "
                "which is unset. Set it on every machine, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}}'
            )
        from s2s_keras.training.multi_worker_fit import allow_multi_worker_fit

        allow_multi_worker_fit()  # Keras 3's fit fails here otherwise
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=os.environ.get("TPU_NAME", "")
        )
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as error:
        raise ValueError(
            f"No TPU to connect to ({error}). Set TPU_NAME, or pick another "
            "strategy. Received: strategy='tpu'"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def is_chief():
    """Whether this task writes exports, plots and logs.

    Every task is the chief when there is one machine. In a multi-worker
    cluster the chief is the `"chief"` task, or worker 0 if the cluster has
    no `"chief"`.
    """
    config = cluster_spec()
    if _number_of_tasks(config) <= 1:
        return True
    task = config["task"]
    if "chief" in config["cluster"]:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0


def worker_count():
    """The number of machines training together (1 without a cluster)."""
    return max(1, _number_of_tasks(cluster_spec()))


def worker_index():
    """This machine's place among them: the chief 0, then the workers in order.

    The data is split by this index (each machine reads its own shard files).
    """
    config = cluster_spec()
    if _number_of_tasks(config) <= 1:
        return 0
    task = config["task"]
    index = int(task.get("index", 0))
    if task.get("type") == "chief":
        return 0
    return index + (1 if "chief" in config["cluster"] else 0)


def set_precision(name="auto"):
    """Sets the Keras global dtype policy: `float32` or mixed precision.

    With `mixed_float16` or `mixed_bfloat16` the layers compute in 16 bits
    and keep float32 weights; the decoders return float32 logits (the
    softmax and the loss run in float32) and attention fills masked scores
    with a value float16 can hold. Keras scales the float16 loss itself.
    `"auto"` is `mixed_bfloat16` where the machine multiplies bfloat16
    matrices natively (`native_bfloat16`), else `float32`. Generation and
    export run a float32 copy of the model (`models.float32_copy`).

    Returns:
        The policy's name: `name`, or what `"auto"` chose.
    """
    check_choice("precision", name, PRECISIONS)
    if name == "auto":
        name = "mixed_bfloat16" if native_bfloat16() else "float32"
    keras.mixed_precision.set_global_policy(name)
    return name


def native_bfloat16(cpuinfo="/proc/cpuinfo"):
    """Whether this machine multiplies bfloat16 matrices in hardware.

    A GPU of compute capability 8.0 or more (Ampere and later), or a CPU with
    AMX's bfloat16 tiles (`amx_bf16`: Intel Xeon since Sapphire Rapids),
    where oneDNN's bfloat16 products run several times the float32 rate.
    Elsewhere bfloat16 is emulated and slower than float32.
    """
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get(
            "compute_capability", (0, 0)
        )
        if tuple(capability) >= (8, 0):
            return True
    try:
        with open(cpuinfo) as lines:
            return any(
                line.startswith("flags") and "amx_bf16" in line.split()
                for line in lines
            )
    except OSError:
        return False


class ClusterBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` for one machine or a cluster: one backup, the chief's.

    Keras's callback has every worker write the same files, in place. Here
    only the chief writes, each file to a temporary name renamed into place
    (a kill in the middle of a write leaves the previous backup whole), and
    every worker restores from the chief's backup when the job is started
    again: all of them resume from the same epoch, as a synchronous
    all-reduce needs. A restore is said in one line ("Resuming from ...:
    2 epochs done, training from epoch 3."), with the epoch Keras restored.
    The weights are renamed into place before the epoch count, so a kill
    between the two resumes one epoch early, never late.
    On several machines, `backup_dir` must be on storage they share, as the
    export is.

    The backup also holds the minutes trained so far, so that a resumed
    run's training time counts the runs before it.

    Args:
        backup_dir: str, the backup folder.
        keep: bool, whether to keep the backup when training ends (Keras
            deletes it): a finished run can then be continued, rerun with
            more epochs or steps.

    Attributes:
        minutes_before: the minutes the restored backup had trained (0 when
            training started anew).
    """

    _NEEDED_BY = "s2s_keras's ClusterBackupAndRestore"

    def __init__(self, backup_dir, keep=False):
        needed_by = self._NEEDED_BY
        # Keras calls these two; the ones here replace them.
        require(
            keras.callbacks.BackupAndRestore, ["_save_model", "_load_model"], needed_by
        )
        chief = is_chief()
        super().__init__(backup_dir, delete_checkpoint=chief and not keep)
        require(
            self,
            [
                "_weights_path",
                "_training_metadata_path",
                "_current_epoch",
                "_last_batch_seen",
            ],
            needed_by,
        )
        self.chief = chief
        self.frozen = False
        self.minutes_before = 0.0
        self.clock = None

    def on_train_begin(self, logs=None):
        # What Keras restores, it says through `_initial_epoch`: the epochs
        # the backup holds, where `fit` starts. Cleared first, so that a model
        # trained before never resumes from a stale count.
        require(self.model, ["_initial_epoch"], self._NEEDED_BY)
        self.model._initial_epoch = None
        self.clock = time.monotonic()
        super().on_train_begin(logs)
        done = self.model._initial_epoch
        self.minutes_before = self._saved("minutes", 0.0) if done else 0.0
        if done:
            print(
                f"Resuming from {self.backup_dir}: {done} epoch"
                f"{'s' * (done > 1)} done, training from epoch {done + 1}.",
                flush=True,
            )

    @property
    def holds_backup(self):
        """Whether `backup_dir` holds weights that `fit` would resume from."""
        return os.path.exists(self._weights_path)

    def freeze(self):
        """Keeps the backup as it is: no more saves, and kept at the end.

        For a run that went wrong (a NaN loss): its last good state stays
        on disk for the next run to resume from.
        """
        self.frozen = True
        self.delete_checkpoint = False

    def _save_model(self):
        if not self.chief or self.frozen:
            return
        with atomic_path(self._weights_path) as staging:
            self.model.save_weights(staging, overwrite=True)
        minutes = self.minutes_before + (time.monotonic() - self.clock) / 60.0
        with atomic_write(self._training_metadata_path) as file:
            json.dump(
                {
                    "epoch": self._current_epoch,
                    "batch": self._last_batch_seen,
                    "minutes": minutes,
                },
                file,
            )

    def _saved(self, key, default):
        """A value of the backup's metadata (`default` in older backups)."""
        with open(self._training_metadata_path, encoding="utf-8") as file:
            return json.load(file).get(key, default)
