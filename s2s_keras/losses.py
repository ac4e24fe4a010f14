"""The training loss: the targets' cross-entropy, optionally label-smoothed."""

import keras
from keras import ops

from s2s_keras.utils.checks import check_rate


@keras.saving.register_keras_serializable(package="s2s_keras")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer targets against logits, with label smoothing.

    Label smoothing (Szegedy et al., 2016) trains against the target
    distribution (1 - ε)·onehot(y) + ε/V instead of onehot(y): with
    log p = log_softmax(logits) over a vocabulary of V entries,

        loss = (1 - ε)·(-log p_y) + ε·mean_k(-log p_k)

    The model is then never asked for probability 1, which regularises a
    model that overfits its training pairs and keeps beam search from
    trusting one word too much. With ε = 0 this is
    `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`; with
    ε > 0 it is `CategoricalCrossentropy(from_logits=True,
    label_smoothing=ε)` without building the one-hot targets. Like every
    Keras loss it applies the mask `y_pred` carries (the target's padding),
    once.

    The copy decoder returns log-probabilities where the others return
    logits; `log_softmax` would leave them as they are, so with
    `from_log_probs=True` the loss reads them directly (a gather instead of
    a log-softmax over the vocabulary at every position, about a tenth of a
    copy model's training step).

    Args:
        label_smoothing: ε, the probability mass spread over the whole
            vocabulary, in [0, 1).
        from_log_probs: bool, whether `y_pred` holds log-probabilities
            (`CopyAttentionDecoder`) rather than logits.
        name: the loss's name.
        reduction: Keras' reduction (default `"sum_over_batch_size"`).
        dtype: the loss's computation dtype.

    Call arguments:
        y_true: integer targets, `(batch, length)`.
        y_pred: logits or log-probabilities, `(batch, length, vocab)`.

    Returns:
        The loss reduced by `reduction`: a scalar by default.
    """

    def __init__(
        self,
        label_smoothing=0.0,
        from_log_probs=False,
        name="smoothed_sparse_crossentropy",
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = check_rate("label_smoothing", label_smoothing)
        self.from_log_probs = bool(from_log_probs)

    def call(self, y_true, y_pred):
        if self.from_log_probs:
            nll = sparse_nll_from_log_probs(y_true, y_pred)
        else:
            nll = keras.losses.sparse_categorical_crossentropy(
                y_true, y_pred, from_logits=True
            )
        if not self.label_smoothing:
            return nll
        log_p = ops.cast(y_pred, "float32")
        if not self.from_log_probs:
            log_p = ops.log_softmax(log_p, axis=-1)
        uniform = -ops.mean(log_p, axis=-1)
        return (1.0 - self.label_smoothing) * nll + self.label_smoothing * uniform

    def get_config(self):
        return {
            **super().get_config(),
            "label_smoothing": self.label_smoothing,
            "from_log_probs": self.from_log_probs,
        }


@keras.saving.register_keras_serializable(package="s2s_keras")
def sparse_nll_from_log_probs(y_true, y_pred):
    """`-log p(y)` per position, from log-probabilities `(..., vocab)`.

    What `sparse_categorical_crossentropy(from_logits=True)` gives for
    log-probabilities, read with a gather: the `cross_entropy` metric of a
    copy model.
    """
    labels = ops.expand_dims(ops.cast(y_true, "int32"), -1)
    log_p = ops.cast(y_pred, "float32")
    return -ops.squeeze(ops.take_along_axis(log_p, labels, axis=-1), -1)
