"""The decoder LSTM with Luong attention over the encoder states.

At every step the decoder state s_t is a query, not a prediction: it is
scored against every encoder state, and the prediction is made *after*
attention, from the state and the context together (the lesson, section 6):

    s_t, c_t   = LSTM_dec(y_{t-1}, s_{t-1}, c_{t-1})
    alpha_t    = softmax(score(s_t, h_1..h_S))     over real source tokens
    c^att_t    = sum_i alpha_{t,i} h_i
    y_hat_t    = softmax(W [s_t; c^att_t] + b)

As in the lesson, c_t is the LSTM's cell state and c^att_t the context
vector; s_t is the decoder's hidden state and h_i the encoder's.

With coverage (See et al. 2017, section 2.3) the decoder keeps the sum of its
past attention, cov_t = sum_{t'<t} alpha_{t'}, passes it to the score (see
`LuongAttention`) and adds a loss that charges attending again to what has
been covered, averaged over the real target tokens:

    covloss_t  = sum_i min(alpha_{t,i}, cov_{t,i})
"""

import keras
from keras import ops

from s2s_keras.layers.decoder import Decoder
from s2s_keras.layers.luong_attention import SCORES
from s2s_keras.layers.luong_attention import LuongAttention
from s2s_keras.special_tokens import PAD_ID
from s2s_keras.utils.checks import check_bool
from s2s_keras.utils.checks import check_choice
from s2s_keras.utils.checks import check_non_negative_float


@keras.saving.register_keras_serializable(package="s2s_keras")
class AttentionDecoder(Decoder):
    """LSTM decoder that attends over the encoder memory at every step.

    Like `Decoder`, it runs a whole target at once (`call`, teacher forcing)
    or one token at a time (`step`, generation) with the same weights.

    Input feeding (Luong et al. 2015, section 3.3) lets the decoder know
    what it attended to before: the previous step's context c^att_{t-1} (zeros
    at the first step) is concatenated to the embedded input y_{t-1}. Luong
    feed their attentional vector tanh(W_c [c^att; s]); here the prediction
    reads `[s_t; c^att_t]` directly, as in the lesson, and s_{t-1} is already
    the LSTM's own state, so c^att_{t-1} is the part fed. Without input feeding
    the LSTM runs over the whole target in one call and attention is one
    batched matrix product; with it, the target is read step by step.

    Args:
        vocab_size: int, number of target token ids (id 0 is padding).
        embedding_dim: int, size of the target token embeddings.
        units: int, size of the decoder states s_t. With `attention="dot"`
            it must equal the memory size (the encoder's `units`).
        num_layers: int, number of stacked LSTMs; the top one is the query.
            Defaults to 1.
        attention: the Luong score, `"dot"`, `"general"` or `"concat"`
            (see `LuongAttention`). Defaults to `"dot"`.
        input_feeding: bool, whether c^att_{t-1} is fed with y_{t-1}.
            Defaults to `False`.
        dropout: float in [0, 1), dropout on the embeddings, between layers
            and before the output projection, during training only.
            Defaults to 0.
        coverage: bool, whether attention reads the coverage vector and
            the layer adds the coverage loss (with `add_loss`, so
            `model.fit` minimizes it). Without input feeding the LSTM still
            runs over the whole target at once; only attention loops over
            time (`LuongAttention.attend_with_coverage`). Defaults to
            `False`.
        coverage_loss_weight: float >= 0, the weight of the coverage loss
            (See et al. use 1). Defaults to 1.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        target_ids: int tensor `(batch_size, T)`: `<BOS>` then the target
            words (teacher forcing), 0 = padding.
        memory: float tensor `(batch_size, S, memory_dim)`, the encoder
            states h_1..h_S.
        memory_mask: optional bool tensor `(batch_size, S)`, True at real
            source tokens.
        initial_state: list of `2 * num_layers` tensors `(batch_size,
            units)`, the encoder's `final_states`.
        source_ids: int tensor `(batch_size, S)`, the source the memory was
            read from; needed by `CopyAttentionDecoder`, unused here.
        return_attention: bool, whether to also return the weights.
        training: bool, whether dropout is active.

    Returns:
        Logits `(batch_size, T, vocab_size)`, carrying a Keras mask (False at
        padding) that Keras losses and metrics apply; with
        `return_attention=True`, a tuple `(logits, weights)` with weights
        `(batch_size, T, S)`.

    Example:

    >>> decoder = AttentionDecoder(vocab_size=20, embedding_dim=8, units=16)
    >>> memory = np.random.rand(2, 5, 16).astype("float32")
    >>> states = [memory[:, -1], memory[:, -1]]
    >>> logits, weights = decoder(np.array([[2, 5, 6], [2, 7, 0]]), memory,
    ...                           initial_state=states, return_attention=True)
    >>> tuple(logits.shape), tuple(weights.shape)
    ((2, 3, 20), (2, 3, 5))
    """

    def __init__(
        self,
        vocab_size,
        embedding_dim,
        units,
        num_layers=1,
        attention="dot",
        input_feeding=False,
        dropout=0.0,
        coverage=False,
        coverage_loss_weight=1.0,
        **kwargs,
    ):
        super().__init__(
            vocab_size=vocab_size,
            embedding_dim=embedding_dim,
            units=units,
            num_layers=num_layers,
            dropout=dropout,
            **kwargs,
        )
        self.attention = check_choice("attention", attention, SCORES)
        self.input_feeding = check_bool("input_feeding", input_feeding)
        self.coverage = check_bool("coverage", coverage)
        self.coverage_loss_weight = check_non_negative_float(
            "coverage_loss_weight", coverage_loss_weight
        )
        self.attention_layer = LuongAttention(
            score=attention,
            coverage=coverage,
            name="attention",
            dtype=self.dtype_policy,
        )

    def build(self, target_ids_shape, memory_shape):
        batch_size, target_length = target_ids_shape
        memory_dim = memory_shape[-1]
        input_dim = self.embedding_dim + (memory_dim if self.input_feeding else 0)
        self._build_stack(target_ids_shape, input_dim, self.units + memory_dim)
        self.attention_layer.build(
            (batch_size, target_length, self.units), memory_shape
        )
        self.built = True

    # The copying decoder keeps the source ids at the end of its step state.
    keeps_source_ids = False

    def _state_parts(self):
        parts = super()._state_parts()
        if self.input_feeding:
            parts.append(("the fed context c^att_{t-1}", 1))
        if self.coverage:
            parts.append(("the coverage vector cov_t", 1))
        if self.keeps_source_ids:
            parts.append(("the source ids to copy from", 1))
        return parts

    def _source_ids_of(self, state):
        return state[-1] if self.keeps_source_ids else None

    def _advance(self, inputs, state, memory, memory_mask, training):
        """`_attend_step`, with the copying decoder's source ids carried along."""
        if not self.keeps_source_ids:
            return self._attend_step(inputs, state, memory, memory_mask, training)
        features, new_state, weights = self._attend_step(
            inputs, state[:-1], memory, memory_mask, training
        )
        return features, [*new_state, state[-1]], weights

    def _attend_step(
        self, inputs, state, memory, memory_mask, training, between_masks=None
    ):
        """One decoder step from an embedded input `(batch, embedding_dim)`.

        The state is `[h_1, c_1, ..., h_L, c_L]`, then c^att_{t-1} with input
        feeding, then cov_t with coverage.

        Returns `([s_t; c^att_t], new_state, weights)`.
        """
        lstm_state = list(state)
        coverage = lstm_state.pop() if self.coverage else None
        if self.input_feeding:
            inputs = ops.concatenate([inputs, lstm_state.pop()], axis=-1)
        query, new_state = self._run_step(inputs, lstm_state, training, between_masks)
        context, weights = self.attention_layer(
            query, memory, memory_mask, coverage=coverage
        )
        if self.input_feeding:
            new_state.append(context)
        if self.coverage:
            new_state.append(coverage + ops.cast(weights, coverage.dtype))
        # (batch, units + memory_dim), state, (batch, S)
        return ops.concatenate([query, context], axis=-1), new_state, weights

    def call(
        self,
        target_ids,
        memory,
        memory_mask=None,
        initial_state=None,
        source_ids=None,
        return_attention=False,
        training=None,
    ):
        self._check_source_ids(source_ids)
        inputs, features, weights = self._features(
            target_ids, memory, memory_mask, initial_state, training
        )
        logits = self._output(features, inputs, weights, source_ids, training)
        if return_attention:
            return logits, weights  # weights: (batch, T, S)
        return logits

    def _check_source_ids(self, source_ids):
        if self.keeps_source_ids and source_ids is None:
            raise ValueError(
                f"{self.__class__.__name__} copies from the source: pass "
                "source_ids. Received: source_ids=None"
            )

    def _features(self, target_ids, memory, memory_mask, initial_state, training):
        """The teacher-forced pass up to the read-out.

        Returns the embedded inputs `(batch, T, embedding_dim)`, `[s_t; c^att_t]`
        `(batch, T, units + memory_dim)` and the weights `(batch, T, S)`.
        """
        self._check_encoder_states(initial_state)
        inputs = self._embed(target_ids, training)  # (batch, T, embedding_dim)
        if self.input_feeding:
            features, weights = self._scan(
                inputs, memory, memory_mask, initial_state, training
            )
        else:
            # The LSTM does not read the attention: it runs over the whole
            # target at once, and attention (with coverage, its cheap loop).
            mask = ops.not_equal(target_ids, PAD_ID)  # (batch, T)
            queries = self._run_sequence(inputs, initial_state, mask, training)
            if self.coverage:
                context, weights = self.attention_layer.attend_with_coverage(
                    queries, memory, memory_mask
                )
            else:
                context, weights = self.attention_layer(queries, memory, memory_mask)
            features = ops.concatenate([queries, context], axis=-1)
        if self.coverage and self.coverage_loss_weight:
            self.add_loss(
                self.coverage_loss_weight * coverage_loss(weights, target_ids)
            )
        return inputs, features, weights

    def _scan(self, inputs, memory, memory_mask, initial_state, training):
        """Runs `_attend_step` over time; returns features and weights."""
        # keras.ops.scan stacks outputs shaped like its carry, so the carry
        # holds the step's outputs too: [state..., [s_t; c^att_t], weights].

        def one_step(carry, step_inputs):  # step_inputs: [x_t, dropout masks...]
            features, state, weights = self._attend_step(
                step_inputs[0],
                carry[:-2],
                memory,
                memory_mask,
                training,
                between_masks=step_inputs[1:],
            )
            carry = [*state, features, weights]
            return carry, carry

        state = self._first_state(initial_state, memory)
        no_features = ops.zeros_like(
            ops.concatenate([initial_state[0], memory[:, 0]], axis=-1)
        )  # (batch, units + memory_dim)
        no_weights = ops.zeros_like(memory[:, :, 0])  # (batch, S)
        time_major = ops.transpose(inputs, (1, 0, 2))  # (T, batch, embedding)
        masks = self._between_masks(ops.shape(time_major)[:2], training)
        _, stacked = ops.scan(
            one_step, [*state, no_features, no_weights], [time_major, *masks]
        )
        # (batch, T, units + memory_dim), (batch, T, S)
        return ops.transpose(stacked[-2], (1, 0, 2)), ops.transpose(
            stacked[-1], (1, 0, 2)
        )

    def _between_masks(self, steps_and_batch, training):
        """The dropout masks between layers for every step, `(T, batch, units)` each.

        Drawn before the loop: a random draw inside a JAX scan would leak
        its seed state out of the loop. Empty without dropout between layers.
        """
        if not (training and self.dropout and self.num_layers > 1):
            return []
        ones = ops.ones((*steps_and_batch, self.units), self.compute_dtype)
        return [
            self.dropout_layer(ones, training=True) for _ in range(self.num_layers - 1)
        ]

    def compute_mask(self, target_ids, *args, return_attention=False, **kwargs):
        mask = ops.not_equal(target_ids, PAD_ID)
        return (mask, None) if return_attention else mask

    def compute_output_spec(
        self,
        target_ids,
        memory,
        memory_mask=None,
        initial_state=None,
        source_ids=None,
        return_attention=False,
        training=None,
    ):
        """The outputs' shapes and dtypes, without tracing `call` (see `Encoder`)."""
        self._check_source_ids(source_ids)
        logits = super().compute_output_spec(target_ids, initial_state)
        if not return_attention:
            return logits
        batch_size, target_length = target_ids.shape
        weights = keras.KerasTensor(
            (batch_size, target_length, memory.shape[1]), dtype=self.compute_dtype
        )
        return logits, weights

    def get_initial_state(self, encoder_states, memory=None, source_ids=None):
        """The step state that starts generation (see `Decoder`).

        Raises:
            ValueError: the memory is missing with input feeding or coverage,
                or the source ids are missing for a copying decoder.
        """
        state = self._first_state(encoder_states, memory)
        if self.keeps_source_ids:
            if source_ids is None:
                raise ValueError(
                    f"{self.__class__.__name__}.get_initial_state() needs the "
                    "source_ids to copy from. Received: source_ids=None"
                )
            state.append(source_ids)
        return state

    def _first_state(self, encoder_states, memory):
        self._check_encoder_states(encoder_states)
        state = list(encoder_states)
        if (self.input_feeding or self.coverage) and memory is None:
            raise ValueError(
                "With input_feeding=True or coverage=True, get_initial_state() "
                "needs the memory to size the first fed context and coverage. "
                "Received: memory=None"
            )
        if self.input_feeding:
            state.append(ops.zeros_like(memory[:, 0]))  # (batch, memory_dim)
        if self.coverage:
            state.append(ops.zeros_like(memory[:, :, 0]))  # (batch, S)
        return state

    def _check_step(self, state, memory):
        if memory is None:
            raise ValueError(
                f"{self.__class__.__name__}.step() attends over the encoder "
                "memory. Received: memory=None"
            )
        self._check_state(state)

    def get_config(self):
        return {
            **super().get_config(),
            "attention": self.attention,
            "input_feeding": self.input_feeding,
            "coverage": self.coverage,
            "coverage_loss_weight": self.coverage_loss_weight,
        }


def coverage_loss(weights, target_ids):
    """See et al.'s coverage loss, averaged over the real target tokens.

    Args:
        weights: float tensor `(batch_size, T, S)`, the attention weights.
        target_ids: int tensor `(batch_size, T)`, 0 = padding.

    Returns:
        A float32 scalar: the mean over real target steps t of
        `sum_i min(alpha_{t,i}, cov_{t,i})`, cov_t the sum of the weights
        before step t. It is 0 for a single step and for attention that
        never returns to a position.
    """
    weights = ops.cast(weights, "float32")
    before = ops.cumsum(weights, axis=1) - weights  # cov_t: (batch, T, S)
    per_step = ops.sum(ops.minimum(weights, before), axis=-1)  # (batch, T)
    real = ops.cast(ops.not_equal(target_ids, PAD_ID), "float32")
    return ops.sum(per_step * real) / ops.maximum(ops.sum(real), 1.0)
