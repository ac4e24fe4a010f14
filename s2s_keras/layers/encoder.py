"""The encoder LSTM: reads the source and keeps every hidden state.

The lesson's Table 1, for "I love machine learning course":

| t | input word | embedding | hidden state |
|---|------------|-----------|--------------|
| 1 | I          | x_1       | h_1          |
| 2 | love       | x_2       | h_2          |
| ...                                       |
| 5 | course     | x_5       | h_5          |

    h_t, c_t = LSTM_enc(x_t, h_{t-1}, c_{t-1})

h_1..h_S are the attention memory; (h_S, c_S) start the decoder.
"""

import keras
from keras import ops

from s2s_keras.special_tokens import PAD_ID
from s2s_keras.utils.checks import check_bool
from s2s_keras.utils.checks import check_positive_int
from s2s_keras.utils.checks import check_rate


@keras.saving.register_keras_serializable(package="s2s_keras")
class Encoder(keras.layers.Layer):
    """Embeds source ids and runs them through a stack of LSTMs.

    Id 0 is padding: it is masked, so the LSTMs skip it and the final states
    are those of the last real token (h_S, c_S), whatever the padding.

    The bridge to the decoder: every layer hands its final `(h, c)` to the
    decoder layer of the same depth, so a decoder with the same `units` and
    `num_layers` starts exactly where the encoder stopped. With
    `bidirectional=True` each direction has `units // 2` units and the two
    directions are concatenated, `h = [h_forward; h_backward]`, both for the
    memory and for the final states, so the memory and the states still have
    `units` features (this is why `units` must then be even).

    Args:
        vocab_size: int, number of source token ids (id 0 is padding).
        embedding_dim: int, size of the token embeddings x_t.
        units: int, size of the hidden states h_t (and of the memory).
        num_layers: int, number of stacked LSTMs. Defaults to 1.
        bidirectional: bool, whether each LSTM also reads right to left.
            Defaults to `False`.
        dropout: float in [0, 1), dropout on the embeddings and between
            layers, during training only. Defaults to 0.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        source_ids: int tensor `(batch_size, S)`, 0 = padding.
        training: bool, whether dropout is active.

    Returns:
        A tuple `(memory, memory_mask, final_states)`:
        - memory: `(batch_size, S, units)`, the hidden states h_1..h_S.
        - memory_mask: bool `(batch_size, S)`, True at real tokens.
        - final_states: list of `2 * num_layers` tensors `(batch_size,
          units)`, `[h_S, c_S]` of layer 1, then of layer 2, and so on.

    Example:

    >>> encoder = Encoder(vocab_size=20, embedding_dim=8, units=16)
    >>> memory, memory_mask, states = encoder(np.array([[5, 6, 7, 0]]))
    >>> tuple(memory.shape), len(states)
    ((1, 4, 16), 2)
    """

    def __init__(
        self,
        vocab_size,
        embedding_dim,
        units,
        num_layers=1,
        bidirectional=False,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.units = check_positive_int("units", units)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.dropout = check_rate("dropout", dropout)
        if bidirectional and units % 2:
            raise ValueError(
                "Invalid value for argument units. A bidirectional encoder "
                "splits units between its two directions, so it must be "
                f"even. Received: units={units}"
            )

        self.embedding = keras.layers.Embedding(
            vocab_size,
            embedding_dim,
            mask_zero=True,
            name="embedding",
            dtype=self.dtype_policy,
        )
        self.dropout_layer = keras.layers.Dropout(
            dropout, name="dropout", dtype=self.dtype_policy
        )
        self.recurrent_layers = [
            self._make_recurrent_layer(index) for index in range(num_layers)
        ]

    def _make_recurrent_layer(self, index):
        lstm_units = self.units // 2 if self.bidirectional else self.units
        lstm = keras.layers.LSTM(
            lstm_units,
            return_sequences=True,
            return_state=True,
            name=f"lstm_{index}",
            dtype=self.dtype_policy,
        )
        if not self.bidirectional:
            return lstm
        return keras.layers.Bidirectional(
            lstm, name=f"bidirectional_{index}", dtype=self.dtype_policy
        )

    def build(self, source_ids_shape):
        batch_size, source_length = source_ids_shape
        self.embedding.build(source_ids_shape)
        features = self.embedding_dim
        for layer in self.recurrent_layers:
            layer.build((batch_size, source_length, features))
            features = self.units
        self.built = True

    def call(self, source_ids, training=None):
        memory_mask = ops.not_equal(source_ids, PAD_ID)  # (batch, S)
        sequence = self.embedding(source_ids)  # (batch, S, embedding_dim)
        final_states = []
        for layer in self.recurrent_layers:
            sequence = self.dropout_layer(sequence, training=training)
            outputs = layer(sequence, mask=memory_mask, training=training)
            sequence = outputs[0]  # (batch, S, units)
            if self.bidirectional:
                h_fwd, c_fwd, h_bwd, c_bwd = outputs[1:]
                final_states += [
                    ops.concatenate([h_fwd, h_bwd], axis=-1),  # (batch, units)
                    ops.concatenate([c_fwd, c_bwd], axis=-1),
                ]
            else:
                final_states += list(outputs[1:])
        return sequence, memory_mask, final_states

    def compute_output_spec(self, source_ids, training=None):
        """The shapes and dtypes of `call`'s outputs, without running it.

        A functional model (`build_seq2seq`, and loading one from its
        config) asks every layer for these; without this method Keras would
        trace `call`, LSTM loops included, to find them out.
        """
        batch_size, source_length = source_ids.shape
        features = keras.KerasTensor(
            (batch_size, source_length, self.units), dtype=self.compute_dtype
        )
        states = [
            keras.KerasTensor((batch_size, self.units), dtype=self.compute_dtype)
            for _ in range(2 * self.num_layers)
        ]
        mask = keras.KerasTensor((batch_size, source_length), dtype="bool")
        return features, mask, states

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout,
        }
