"""The output layer tied to the target embedding (Press & Wolf, 2017; Inan et al., 2017).

The decoder's output projection W (features -> vocabulary) and its input
embedding E (vocabulary -> embedding_dim) both hold one vector per word.
Tying them scores a word by how well the features, brought down to the
embedding's size, match its embedding:

    logits = (P features) . E^T + b        P: (features, embedding_dim)

which replaces the `features x vocabulary` matrix of the untied layer by
`features x embedding_dim` (for 512 features, 128-wide embeddings and
4,000 subwords: 2.05 M weights become 0.07 M), and lets every target word's
training reach its embedding from both sides.
"""

import keras
from keras import ops

from s2s_keras.utils.checks import check_positive_int


@keras.saving.register_keras_serializable(package="s2s_keras")
class TiedReadout(keras.layers.Layer):
    """Logits from features through the transposed target embedding.

    Args:
        vocab_size: int, the number of target token ids.
        embedding_dim: int, the embedding's width.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        features: float tensor `(..., features)`, the decoder's read-out
            features ([s_t; c_t] with attention, s_t without).
        embeddings: float tensor `(vocab_size, embedding_dim)`, the
            decoder's embedding matrix (its `Embedding` layer's weights:
            the layer does not hold them, so they are saved once).

    Returns:
        Logits `(..., vocab_size)` in the compute dtype.
    """

    def __init__(self, vocab_size, embedding_dim, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # per position: a target's mask passes
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.projection = keras.layers.Dense(
            embedding_dim, use_bias=False, name="projection", dtype=self.dtype_policy
        )

    def build(self, features_shape):
        self.projection.build(features_shape)
        self.bias = self.add_weight(
            shape=(self.vocab_size,), initializer="zeros", name="bias"
        )
        self.built = True

    def call(self, features, embeddings):
        projected = self.projection(features)  # (..., embedding_dim)
        embeddings = ops.cast(embeddings, projected.dtype)
        logits = ops.matmul(projected, ops.transpose(embeddings))  # (..., vocab)
        return logits + ops.cast(self.bias, projected.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
        }
