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
    logits; `log_softmax` leaves them as they are, so the same loss serves.

    Args:
        label_smoothing: ε, the probability mass spread over the whole
            vocabulary, in [0, 1).
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
        name="smoothed_sparse_crossentropy",
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = check_rate("label_smoothing", label_smoothing)

    def call(self, y_true, y_pred):
        nll = keras.losses.sparse_categorical_crossentropy(
            y_true, y_pred, from_logits=True
        )
        if not self.label_smoothing:
            return nll
        log_p = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        uniform = -ops.mean(log_p, axis=-1)
        return (1.0 - self.label_smoothing) * nll + self.label_smoothing * uniform

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
