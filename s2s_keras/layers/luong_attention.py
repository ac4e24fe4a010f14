"""Luong attention: score the encoder memory against a decoder query.

The lesson's equations, for a decoder state s_t and encoder states h_1..h_S:

    score_{t,i} = s_t . h_i                    (dot)
    alpha_{t,i} = exp(score_{t,i}) / sum_j exp(score_{t,j})
    c^att_t     = sum_i alpha_{t,i} h_i

Luong et al. (2015) compare three scores; all three are here:

    dot      score = s_t . h_i
    general  score = s_t . (W_a h_i)
    concat   score = v_a . tanh(W_a [s_t; h_i])

With coverage (See et al. 2017, section 2.3), the attention also sees how
much each source position has already received, cov_{t,i} = sum_{t'<t}
alpha_{t',i}, through one learned weight w_cov (0 at the start, so the
layer starts as plain attention):

    score_{t,i} = score(s_t, h_i) + w_cov * cov_{t,i}
"""

import keras
from keras import ops

from s2s_keras.utils.checks import check_bool
from s2s_keras.utils.checks import check_choice
from s2s_keras.utils.checks import check_positive_int

SCORES = ("dot", "general", "concat")
FLOAT16_MIN = -65504.0


def masked_softmax(scores, mask):
    """Softmax over the last axis that gives masked positions exactly 0.

    Args:
        scores: float tensor `(..., Tk)`.
        mask: bool tensor broadcastable to `scores`, True = real position,
            or None.

    Returns:
        Float tensor of `scores`' shape. Positions where `mask` is False have
        weight exactly 0; a row with no True position is all zeros (never
        NaN). Safe in float16: masked scores are filled with -65504 there,
        not -1e9.
    """
    if mask is None:
        return ops.softmax(scores, axis=-1)
    mask = ops.broadcast_to(mask, ops.shape(scores))
    # -1e9 overflows float16 to -inf; its most negative finite value does not.
    dtype = keras.backend.standardize_dtype(scores.dtype)
    fill = FLOAT16_MIN if dtype == "float16" else -1e9
    scores = ops.where(mask, scores, ops.cast(fill, scores.dtype))
    weights = ops.softmax(scores, axis=-1)
    return weights * ops.cast(mask, weights.dtype)


def bounded_scan(step, initial, xs):
    """`keras.ops.scan` whose loop XLA can compile on every backend.

    On JAX `keras.ops.scan` is `jax.lax.scan`. On TensorFlow it is a
    `tf.while_loop` without `maximum_iterations`, which XLA (`jit_compile`)
    refuses; `tf.scan` bounds its loop by the length of `xs`.

    Args:
        step: `(carry, x) -> (carry, y)`, `y` of the carry's shape and dtype.
        initial: the first carry (a tensor).
        xs: tensor `(steps, ...)`, scanned along its first axis.

    Returns:
        A tuple `(last_carry, ys)`, `ys` stacked along a first axis of `steps`.
    """
    if keras.backend.backend() != "tensorflow":
        return ops.scan(step, initial, xs)
    import tensorflow as tf  # only where TensorFlow is the backend

    def both(carry_and_y, x):  # tf.scan carries what it returns
        return step(carry_and_y[0], x)

    carries, ys = tf.scan(both, xs, (initial, ops.zeros_like(initial)))
    return carries[-1], ys


@keras.saving.register_keras_serializable(package="s2s_keras")
class LuongAttention(keras.layers.Layer):
    """Luong attention of a decoder query over an encoder memory.

    At decoder step t the query is the decoder state s_t and the memory is
    the encoder's hidden states h_1..h_S. The layer scores every h_i against
    s_t, normalizes the scores with a softmax over the real (unpadded)
    source positions, and returns the weighted sum of the memory:
    `c^att_t = sum_i alpha_{t,i} h_i`.

    Args:
        score: how a query is scored against a memory vector. `"dot"`:
            `s . h` (the query and memory must have the same size, and the
            layer has no weights); `"general"`: `s . (W h)`; `"concat"`:
            `v . tanh(W_q s + W_h h)`, Luong's `v . tanh(W [s; h])` with `W`
            split in two. Defaults to `"dot"`.
        units: size of the hidden layer of the `"concat"` score. Defaults to
            the memory size. Only used by `"concat"`.
        coverage: bool, whether the score also reads a coverage vector
            through a learned weight (see the module docstring). Defaults to
            `False`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        query: float tensor `(batch_size, Tq, dim)`, or `(batch_size, dim)`
            for a single decoder step.
        memory: float tensor `(batch_size, Tk, memory_dim)`.
        memory_mask: optional bool tensor `(batch_size, Tk)`, True where the
            memory holds a real token and False at padding.
        coverage: float tensor shaped like the weights, the attention each
            position received before; required with `coverage=True`,
            refused without.

    Returns:
        A tuple `(context, weights)`:
        - context: `(batch_size, Tq, memory_dim)`, or `(batch_size,
          memory_dim)` for a 2-D query.
        - weights: `(batch_size, Tq, Tk)`, or `(batch_size, Tk)`. Each row
          sums to 1 over the real positions; padded positions get exactly 0;
          a row with no real position is all zeros, and so is its context.

    Example:

    >>> attention = LuongAttention(score="dot")
    >>> query = np.ones((2, 3, 4), "float32")
    >>> memory = np.ones((2, 5, 4), "float32")
    >>> mask = np.array([[True] * 5, [True, True, False, False, False]])
    >>> context, weights = attention(query, memory, memory_mask=mask)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 3, 4), (2, 3, 5))
    """

    def __init__(self, score="dot", units=None, coverage=False, **kwargs):
        super().__init__(**kwargs)
        self.score = check_choice("score", score, SCORES)
        self.units = None if units is None else check_positive_int("units", units)
        self.coverage = check_bool("coverage", coverage)

    def build(self, query_shape, memory_shape, coverage_shape=None):
        query_dim = query_shape[-1]
        memory_dim = memory_shape[-1]
        if self.score == "dot" and query_dim != memory_dim:
            raise ValueError(
                "The dot score needs a query and a memory of the same size. "
                f"Received: query_shape={query_shape}, "
                f"memory_shape={memory_shape}. Use score='general' or "
                "score='concat' to attend across sizes."
            )
        if self.score == "general":
            # s . (W h) == (W^T s) . h: project the query once, not the memory.
            self.query_projection = keras.layers.Dense(
                memory_dim,
                use_bias=False,
                name="query_projection",
                dtype=self.dtype_policy,
            )
            self.query_projection.build(query_shape)
        elif self.score == "concat":
            units = self.units or memory_dim
            self.query_projection = keras.layers.Dense(
                units,
                use_bias=False,
                name="query_projection",
                dtype=self.dtype_policy,
            )
            self.query_projection.build(query_shape)
            self.memory_projection = keras.layers.Dense(
                units, name="memory_projection", dtype=self.dtype_policy
            )
            self.memory_projection.build(memory_shape)
            self.score_vector = keras.layers.Dense(
                1, use_bias=False, name="score_vector", dtype=self.dtype_policy
            )
            self.score_vector.build((None, None, None, units))
        if self.coverage:
            self.coverage_weight = self.add_weight(
                shape=(), initializer="zeros", name="coverage_weight"
            )
        self.built = True

    def _scores(self, query, memory):
        """Scores `(batch, Tq, Tk)` of a 3-D query against the memory."""
        if self.score == "dot":
            return ops.matmul(query, ops.swapaxes(memory, -1, -2))
        if self.score == "general":
            projected = self.query_projection(query)  # (batch, Tq, memory_dim)
            return ops.matmul(projected, ops.swapaxes(memory, -1, -2))
        projected_query = self.query_projection(query)  # (batch, Tq, units)
        projected_memory = self.memory_projection(memory)  # (batch, Tk, units)
        hidden = ops.tanh(
            ops.expand_dims(projected_query, 2) + ops.expand_dims(projected_memory, 1)
        )  # (batch, Tq, Tk, units)
        return ops.squeeze(self.score_vector(hidden), -1)  # (batch, Tq, Tk)

    def call(self, query, memory, memory_mask=None, coverage=None):
        if self.coverage != (coverage is not None):
            raise ValueError(
                f"This LuongAttention was built with coverage={self.coverage}: "
                f"{'pass' if self.coverage else 'do not pass'} a coverage "
                f"vector. Received: coverage={coverage}"
            )
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)  # (batch, 1, dim)
        scores = self._scores(query, memory)  # (batch, Tq, Tk)
        if self.coverage:
            coverage = ops.cast(coverage, scores.dtype)
            if single_step:
                coverage = ops.expand_dims(coverage, 1)  # (batch, 1, Tk)
            scores += ops.cast(self.coverage_weight, scores.dtype) * coverage
        if memory_mask is not None:
            memory_mask = ops.expand_dims(ops.cast(memory_mask, "bool"), 1)
        weights = masked_softmax(scores, memory_mask)  # (batch, Tq, Tk)
        context = ops.matmul(weights, memory)  # (batch, Tq, memory_dim)
        if single_step:
            return ops.squeeze(context, 1), ops.squeeze(weights, 1)
        return context, weights

    def attend_with_coverage(self, queries, memory, memory_mask=None):
        """Attends a whole query sequence, step t reading cov_t = sum_{t'<t} alpha_t'.

        What `call` computes one step at a time with the coverage vector
        carried along, for a teacher-forced sequence of queries: every
        step's scores are one batched product, then only the coverage term
        and the softmax run step by step (cov_t depends on the weights
        before it), and the contexts are again one product. A decoder whose
        LSTM does not read the attention (no input feeding) runs its LSTM
        over the whole target first and then this.

        Args:
            queries: float tensor `(batch_size, Tq, dim)`, s_1..s_Tq.
            memory: float tensor `(batch_size, Tk, memory_dim)`.
            memory_mask: optional bool tensor `(batch_size, Tk)`.

        Returns:
            A tuple `(context, weights)`, `(batch_size, Tq, memory_dim)` and
            `(batch_size, Tq, Tk)`: those of `call` at each step with the
            coverage of the steps before (zeros at the first).

        Raises:
            ValueError: the layer was built without coverage, or the
                queries are not 3-D.
        """
        if not self.coverage or len(queries.shape) != 3:
            raise ValueError(
                "attend_with_coverage() needs a LuongAttention built with "
                "coverage=True and queries (batch_size, Tq, dim). Received: "
                f"coverage={self.coverage}, queries.shape={queries.shape}"
            )
        with keras.name_scope(self.name):  # a method, not a call: name its ops
            scores = self._scores(queries, memory)  # (batch, Tq, Tk)
            weight = ops.cast(self.coverage_weight, scores.dtype)
            mask = None if memory_mask is None else ops.cast(memory_mask, "bool")

            def one_step(coverage, scores_t):  # cov_t -> (cov_{t+1}, alpha_t)
                weights = masked_softmax(scores_t + weight * coverage, mask)
                return coverage + weights, weights

            no_coverage = ops.zeros_like(scores[:, 0])  # (batch, Tk)
            time_major = ops.transpose(scores, (1, 0, 2))  # (Tq, batch, Tk)
            _, weights = bounded_scan(one_step, no_coverage, time_major)
            weights = ops.transpose(weights, (1, 0, 2))  # (batch, Tq, Tk)
            return ops.matmul(weights, memory), weights

    def compute_mask(self, query, memory, memory_mask=None, coverage=None, mask=None):
        # The memory's padding is read from memory_mask, not from a Keras
        # mask, and the outputs carry none.
        return None

    def get_config(self):
        return {
            **super().get_config(),
            "score": self.score,
            "units": self.units,
            "coverage": self.coverage,
        }


@keras.saving.register_keras_serializable(package="s2s_keras")
class LuongDotAttention(LuongAttention):
    """Luong dot attention: `score = s_t . h_i`, no weights.

    The lesson's attention (and `keras.layers.Attention()` with its
    defaults): `LuongAttention(score="dot")`. See `LuongAttention` for the
    call arguments and return values.

    Args:
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.
    """

    def __init__(self, **kwargs):
        for name in ("score", "units", "coverage"):
            kwargs.pop(name, None)
        super().__init__(score="dot", **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["score"], config["units"], config["coverage"]
        return config
