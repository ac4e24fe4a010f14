"""The plain decoder LSTM, without attention: the lesson's simple seq2seq.

It starts from the encoder's final states and never looks at the source
again, so everything it knows of the input has passed through (h_S, c_S):
the single-vector bottleneck that attention removes. The lesson's Table 2:

| t | decoder input | hidden state | output word |
|---|---------------|--------------|-------------|
| 1 | <BOS>         | s_1          | I           |
| 2 | I             | s_2          | enjoy       |
| ...                                             |
| 5 | class         | s_5          | <EOS>       |

    s_0, c_0 = h_S, c_S
    s_t, c_t = LSTM_dec(y_{t-1}, s_{t-1}, c_{t-1})
    y_hat_t  = softmax(W s_t + b)
"""

import keras
from keras import ops

from s2s_keras.layers.tied_readout import TiedReadout
from s2s_keras.special_tokens import PAD_ID
from s2s_keras.utils.checks import check_bool
from s2s_keras.utils.checks import check_positive_int
from s2s_keras.utils.checks import check_rate


@keras.saving.register_keras_serializable(package="s2s_keras")
class Decoder(keras.layers.Layer):
    """LSTM decoder that predicts each word from its own state s_t.

    It runs in two modes with the same weights: `call` reads a whole target
    at once (teacher forcing, for `model.fit`), and `step` advances one token
    (for generation). Both give the same logits for the same tokens.

    Args:
        vocab_size: int, number of target token ids (id 0 is padding).
        embedding_dim: int, size of the target token embeddings.
        units: int, size of the decoder states s_t. Must equal the size of
            the encoder's final states it starts from.
        num_layers: int, number of stacked LSTMs; layer l starts from the
            final states of encoder layer l. Defaults to 1.
        dropout: float in [0, 1), dropout on the embeddings, between layers
            and before the output projection, during training only.
            Defaults to 0.
        tie_embeddings: bool, whether the output projection goes through
            the transposed embedding matrix (`TiedReadout`) rather than a
            matrix of its own. Defaults to False.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        target_ids: int tensor `(batch_size, T)`: `<BOS>` then the target
            words (teacher forcing), 0 = padding.
        initial_state: list of `2 * num_layers` tensors `(batch_size,
            units)`, the encoder's `final_states`.
        training: bool, whether dropout is active.

    Returns:
        Logits `(batch_size, T, vocab_size)` of the next word at every
        position, carrying a Keras mask (False at padding) that Keras losses
        and metrics apply.

    Example:

    >>> decoder = Decoder(vocab_size=20, embedding_dim=8, units=16)
    >>> states = [np.zeros((2, 16), "float32")] * 2
    >>> logits = decoder(np.array([[2, 5, 6], [2, 7, 0]]), initial_state=states)
    >>> tuple(logits.shape)
    (2, 3, 20)
    """

    def __init__(
        self,
        vocab_size,
        embedding_dim,
        units,
        num_layers=1,
        dropout=0.0,
        tie_embeddings=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.units = check_positive_int("units", units)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.dropout = check_rate("dropout", dropout)
        self.tie_embeddings = check_bool("tie_embeddings", tie_embeddings)

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
            keras.layers.LSTM(
                units,
                return_sequences=True,
                return_state=True,
                name=f"lstm_{index}",
                dtype=self.dtype_policy,
            )
            for index in range(num_layers)
        ]
        if tie_embeddings:
            self.output_projection = TiedReadout(
                vocab_size,
                embedding_dim,
                name="output_projection",
                dtype=self.dtype_policy,
            )
        else:
            self.output_projection = keras.layers.Dense(
                vocab_size, name="output_projection", dtype=self.dtype_policy
            )

    # -- building -----------------------------------------------------------

    def _build_stack(self, target_ids_shape, input_dim, readout_dim):
        batch_size, target_length = target_ids_shape
        self.embedding.build(target_ids_shape)
        for layer in self.recurrent_layers:
            layer.build((batch_size, target_length, input_dim))
            input_dim = self.units
        self.output_projection.build((batch_size, target_length, readout_dim))

    def build(self, target_ids_shape):
        self._build_stack(target_ids_shape, self.embedding_dim, self.units)
        self.built = True

    # -- pieces shared by both modes ---------------------------------------

    def _state_parts(self):
        """What `step`'s state holds, in order, and how many tensors each is."""
        return [
            (f"h and c for each of its {self.num_layers} layer(s)", 2 * self.num_layers)
        ]

    def _check_state(self, state, parts=None):
        """Raise unless `state` has the tensors of `parts` (the step state's).

        With `parts=None` the whole step state is expected; the encoder's
        final states are checked against the first part alone.
        """
        parts = self._state_parts() if parts is None else parts
        expected = sum(count for _, count in parts)
        if state is None or len(state) != expected:
            received = None if state is None else len(state)
            raise ValueError(
                f"{self.__class__.__name__} '{self.name}' expects a state of "
                f"{expected} tensors ({', then '.join(name for name, _ in parts)})"
                f". Received: {received} tensors. Pass the encoder's "
                "final_states, through get_initial_state() for step()."
            )

    def _check_encoder_states(self, encoder_states):
        self._check_state(encoder_states, self._state_parts()[:1])

    def _run_sequence(self, inputs, initial_state, mask, training):
        """Runs the LSTM stack over `(batch, T, features)`; returns s_1..s_T."""
        sequence = inputs
        for index, layer in enumerate(self.recurrent_layers):
            if index:
                sequence = self.dropout_layer(sequence, training=training)
            sequence = layer(
                sequence,
                initial_state=initial_state[2 * index : 2 * index + 2],
                mask=mask,
                training=training,
            )[0]
        return sequence  # (batch, T, units)

    def _run_step(self, inputs, state, training, between_masks=None):
        """Advances every LSTM cell one token; returns s_t and the new state.

        `between_masks`, if given, are the dropout masks (scaled, one per
        layer after the first) to apply between layers instead of drawing
        them: a step inside a JAX scan cannot draw random numbers.
        """
        new_state = []
        output = inputs
        for index, layer in enumerate(self.recurrent_layers):
            if index and between_masks:
                output = output * ops.cast(between_masks[index - 1], output.dtype)
            elif index:
                output = self.dropout_layer(output, training=training)
            output, (h, c) = layer.cell(
                output, state[2 * index : 2 * index + 2], training=training
            )
            new_state += [h, c]
        return output, new_state  # (batch, units), 2 * num_layers tensors

    def _read_out(self, features, training):
        """softmax(W features + b), as logits: float32 even under mixed precision.

        The product runs in the compute dtype; the softmax and the loss then
        run in float32, where float16 would overflow or lose the small
        probabilities.
        """
        features = self.dropout_layer(features, training=training)
        if self.tie_embeddings:
            logits = self.output_projection(features, self._embedding_matrix())
        else:
            logits = self.output_projection(features)
        return ops.cast(logits, "float32")

    def _embedding_matrix(self):
        """The target embedding E `(vocab, embedding_dim)` as floats, also
        where `model.quantize("int8")` keeps it as int8 with a scale per row."""
        matrix = self.embedding.embeddings
        if self.embedding.quantization_mode == "int8":
            scale = ops.expand_dims(self.embedding.embeddings_scale, -1)
            matrix = ops.divide(ops.cast(matrix, self.compute_dtype), scale)
        return matrix

    def _embed(self, token_ids, training):
        return self.dropout_layer(self.embedding(token_ids), training=training)

    def _embed_step(self, token_ids, training):
        """Embeds one token per row, `(batch,)` -> `(batch, embedding_dim)`.

        A padding mask means nothing for a single step (the caller decides
        which rows are done), so the copy drops the one the embedding sets.
        """
        return ops.copy(self._embed(token_ids, training))

    # -- full sequence (teacher forcing) ------------------------------------

    def call(self, target_ids, initial_state=None, training=None):
        self._check_encoder_states(initial_state)
        mask = ops.not_equal(target_ids, PAD_ID)  # (batch, T)
        inputs = self._embed(target_ids, training)  # (batch, T, embedding_dim)
        states = self._run_sequence(inputs, initial_state, mask, training)
        return self._read_out(states, training)  # (batch, T, vocab_size)

    def compute_mask(self, target_ids, *args, **kwargs):
        return ops.not_equal(target_ids, PAD_ID)

    def compute_output_spec(self, target_ids, initial_state=None, training=None):
        """The logits' shape and dtype, without tracing `call` (see `Encoder`)."""
        self._check_encoder_states(initial_state)
        batch_size, target_length = target_ids.shape
        return keras.KerasTensor(  # float32: `_read_out` casts the logits
            (batch_size, target_length, self.vocab_size), dtype="float32"
        )

    # -- one step (generation) ----------------------------------------------

    def get_initial_state(self, encoder_states, memory=None, source_ids=None):
        """The step state that starts generation: s_0, c_0 = h_S, c_S.

        Args:
            encoder_states: the encoder's `final_states`.
            memory: the encoder states `(batch_size, S, memory_dim)`; the
                attention decoders size their first fed context and
                coverage from it.
            source_ids: the source ids `(batch_size, S)`; the copying
                decoder keeps them in its state. Every decoder accepts both,
                so that generation starts every decoder the same way.

        Returns:
            A list of tensors to pass to `step`.
        """
        self._check_encoder_states(encoder_states)
        return list(encoder_states)

    def step(self, token_ids, state, memory=None, memory_mask=None, training=False):
        """Predicts the next word from one input token.

        The one step path of every decoder: embed y_{t-1}, advance the state
        (`_advance`: the LSTM, and attention where there is one), and read
        the prediction out (`_output`).

        Args:
            token_ids: int tensor `(batch_size,)`, y_{t-1} (`<BOS>` first).
            state: the list from `get_initial_state` or the previous `step`.
            memory: float tensor `(batch_size, S, memory_dim)`, the encoder
                states h_1..h_S (unused without attention).
            memory_mask: optional bool tensor `(batch_size, S)`.
            training: bool, whether dropout is active.

        Returns:
            A tuple `(logits, state, weights)`: logits `(batch_size,
            vocab_size)` (log-probabilities for the copying decoder), the
            state for the next step, and this step's attention weights
            alpha_t `(batch_size, S)`, or None without attention.
        """
        self._check_step(state, memory)
        inputs = self._embed_step(token_ids, training)  # (batch, embedding_dim)
        features, new_state, weights = self._advance(
            inputs, state, memory, memory_mask, training
        )
        source_ids = self._source_ids_of(state)
        logits = self._output(features, inputs, weights, source_ids, training)
        return logits, new_state, weights

    def _check_step(self, state, memory):
        self._check_state(state)

    def _source_ids_of(self, state):
        """The source ids a step state keeps (the copying decoder's), or None."""
        return None

    def _advance(self, inputs, state, memory, memory_mask, training):
        """One step of the state: returns `(features, new_state, weights)`."""
        query, new_state = self._run_step(inputs, state, training)
        return query, new_state, None  # s_t: (batch, units)

    def _output(self, features, inputs, weights, source_ids, training):
        """The output hook: features -> logits of softmax(W f + b).

        Both modes end here (a whole target, `(batch, T, ...)`, or one step,
        `(batch, ...)`); `CopyAttentionDecoder` overrides it to mix in
        copying.

        Args:
            features: `(..., readout_dim)`: s_t, or [s_t; c^att_t] with attention.
            inputs: the embedded inputs y_{t-1} `(..., embedding_dim)`.
            weights: the attention weights alpha_t `(..., S)`, or None.
            source_ids: the source ids `(batch, S)`, or None.
            training: bool.
        """
        return self._read_out(features, training)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "tie_embeddings": self.tie_embeddings,
        }
