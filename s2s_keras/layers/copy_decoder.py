"""An attention decoder that can also copy source tokens (pointer-generator).

See et al. (2017): at step t a gate decides between generating a word from
the vocabulary and copying a source token, with the attention weights as the
copy distribution:

    p_gen  = sigmoid(w . [s_t; c^att_t; y_{t-1}] + b)
    P(w)   = p_gen * softmax(W [s_t; c^att_t] + b)_w
             + (1 - p_gen) * sum_{i : source_i = w} alpha_{t,i}

Source and target share one subword vocabulary here, so every source token
is in the vocabulary and no per-example extended vocabulary is needed. A
source token that is `<UNK>` (rare: the tokenizer falls back to bytes) is
copied as `<UNK>`.

The layer returns log P (log-probabilities) where the other decoders return
logits: `log_softmax(log P) = log P`, so the same loss
(`SparseCategoricalCrossentropy(from_logits=True)`) and the same generation
code serve both.
"""

import keras
from keras import ops

from s2s_keras.layers.attention_decoder import AttentionDecoder

TINY = 1e-9  # keeps log P finite where P is 0


@keras.saving.register_keras_serializable(package="s2s_keras")
class CopyAttentionDecoder(AttentionDecoder):
    """`AttentionDecoder` with a copy gate: generate a word or copy a source token.

    Args: as `AttentionDecoder`.

    Call arguments: as `AttentionDecoder`, plus
        source_ids: int tensor `(batch_size, S)`, the source the memory was
            read from (the tokens that can be copied).

    Returns:
        Log-probabilities `(batch_size, T, vocab_size)` of the next token,
        carrying the target's padding mask; with `return_attention=True`, a
        tuple `(log_probs, weights)`.
    """

    keeps_source_ids = True
    returns_log_probs = True  # `compile_seq2seq` reads them without a log-softmax

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.copy_gate = keras.layers.Dense(
            1, name="copy_gate", dtype=self.dtype_policy
        )

    def build(self, target_ids_shape, memory_shape, source_ids_shape=None):
        super().build(target_ids_shape, memory_shape)
        # The gate reads [s_t; c_t; y_{t-1}].
        self.copy_gate.build((None, self.units + memory_shape[-1] + self.embedding_dim))
        self.built = True

    def _output(self, features, inputs, weights, source_ids, training):
        """log P from the vocabulary logits and the attention (any leading axes)."""
        logits = self._read_out(features, training)
        p_gen = ops.sigmoid(
            ops.cast(
                self.copy_gate(ops.concatenate([features, inputs], axis=-1)), "float32"
            )
        )  # (..., 1); features are [s_t; c^att_t]
        vocabulary = ops.softmax(ops.cast(logits, "float32"), axis=-1)
        copied = self._scatter_onto_vocabulary(ops.cast(weights, "float32"), source_ids)
        return ops.log(p_gen * vocabulary + (1.0 - p_gen) * copied + TINY)

    def _scatter_onto_vocabulary(self, weights, source_ids):
        """Sums attention weights per source token: `(..., S)` -> `(..., V)`.

        `copied[b, t, w] = sum_{i : source_ids[b, i] = w} weights[b, t, i]`,
        as a scatter-add of B*T*S weights rather than a product with a
        `(B, S, V)` one-hot matrix, which costs V times more.
        """
        one_step = len(weights.shape) == 2  # (batch, S)
        if one_step:
            weights = weights[:, None, :]
        shape = ops.shape(weights)  # (batch, T, S)
        batch_size, target_length, source_length = shape[0], shape[1], shape[2]
        grid = (batch_size, target_length, source_length)
        indices = ops.stack(
            [
                ops.broadcast_to(ops.reshape(ops.arange(batch_size), (-1, 1, 1)), grid),
                ops.broadcast_to(
                    ops.reshape(ops.arange(target_length), (1, -1, 1)), grid
                ),
                ops.broadcast_to(ops.cast(source_ids, "int32")[:, None, :], grid),
            ],
            axis=-1,
        )  # (batch, T, S, 3)
        copied = ops.scatter(
            indices, weights, (batch_size, target_length, self.vocab_size)
        )
        return copied[:, 0] if one_step else copied
