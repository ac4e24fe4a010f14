"""Lets Keras 3's `model.fit` run under `MultiWorkerMirroredStrategy`.

With the TensorFlow backend, Keras 3 (checked on 3.15, the version
`pyproject.toml` pins) cannot train under
`MultiWorkerMirroredStrategy`: TensorFlow's own multi-worker Keras tutorial
fails with "Attempt to convert a value (PerReplica ...) with an unsupported
type" (keras-team/keras#20585, #20329; tensorflow/tensorflow#72388). Two
places in `keras/src/backend/tensorflow/trainer.py` raise:

1. `_maybe_symbolic_build` all-reduces the first batch (`strategy.reduce`
   over a whole nested batch, which the collective all-reduce cannot take)
   only to learn its shapes before building the optimizer and metrics.
   Here the first replica's part of the batch serves the same purpose.
2. `reduce_per_replica` averages the per-replica logs with
   `strategy.reduce("MEAN", v, axis=0)`, which fails on the scalar losses
   and metrics every `fit` logs. Here scalars are averaged with `axis=None`
   (across replicas), the rest as before.

`allow_multi_worker_fit()` installs both, once, when `get_strategy` makes a
multi-worker strategy. Each changes only a case that raises otherwise: with
any other strategy the original code runs. The tests in
`tests/test_distribute.py` train two workers together through `fit` and
fail if Keras changes so that these no longer apply.
"""

import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as tf_trainer

from s2s_keras.utils.keras_internals import require

_original = {}


def _is_multi_worker(strategy):
    return strategy is not None and tf_trainer._collective_all_reduce_multi_worker(
        strategy
    )


def _first_replica(strategy, value):
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    strategy = self.distribute_strategy
    if iterator is None or not _is_multi_worker(strategy):
        return _original["build"](self, iterator=iterator, data_batch=data_batch)
    for _, _, batches in iterator:
        data_batch = next(batches)
        break
    data_batch = tree.map_structure(
        lambda value: _first_replica(strategy, value), data_batch
    )
    with strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_per_replica(values, strategy, reduction):
    if reduction not in ("auto", "mean") or not _is_multi_worker(strategy):
        return _original["reduce"](values, strategy, reduction)

    def mean(value):
        scalar = _first_replica(strategy, value).shape.rank == 0
        return strategy.reduce("MEAN", value, axis=None if scalar else 0)

    return tree.map_structure(mean, values)


def allow_multi_worker_fit():
    """Installs the two fixes above (idempotent).

    Raises:
        RuntimeError: the installed Keras lacks a private name they need.
    """
    if _original:
        return
    needed_by = "s2s_keras's multi-worker fix for model.fit"
    require(
        tf_trainer,
        ["reduce_per_replica", "_collective_all_reduce_multi_worker"],
        needed_by,
    )
    require(
        tf_trainer.TensorFlowTrainer,
        ["_maybe_symbolic_build", "_symbolic_build"],
        needed_by,
    )
    _original["build"] = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    _original["reduce"] = tf_trainer.reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = _reduce_per_replica
