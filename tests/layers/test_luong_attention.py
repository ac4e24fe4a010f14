import keras
import numpy as np
import pytest

from s2s_keras.layers import LuongAttention
from s2s_keras.layers import LuongDotAttention
from tests.test_case import assert_allclose
from tests.test_case import run_layer_test

BATCH, TQ, TK, DIM = 3, 4, 6, 5


def random_inputs(seed=0, dim=DIM):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(BATCH, TQ, dim)).astype("float32")
    memory = rng.normal(size=(BATCH, TK, dim)).astype("float32")
    lengths = np.array([6, 3, 1])
    mask = np.arange(TK)[None, :] < lengths[:, None]  # (batch, Tk)
    return query, memory, mask


def numpy_luong(query, memory, mask, score):
    """The lesson's equations, written out with NumPy, one score at a time."""
    scores = np.einsum("bqd,bkd->bqk", query, memory)  # score_{t,i} = s_t . h_i
    if score is not None:
        scores = score(query, memory)
    scores = np.where(mask[:, None, :], scores, -np.inf)
    exp = np.exp(scores - scores.max(axis=-1, keepdims=True))
    alpha = exp / exp.sum(axis=-1, keepdims=True)  # softmax over real positions
    context = np.einsum("bqk,bkd->bqd", alpha, memory)  # c_t = sum_i alpha_i h_i
    return context, alpha


def test_dot_equals_numpy_equations():
    query, memory, mask = random_inputs()
    context, weights = LuongDotAttention()(query, memory, memory_mask=mask)
    expected_context, expected_weights = numpy_luong(query, memory, mask, None)
    assert_allclose(weights, expected_weights, atol=1e-6)
    assert_allclose(context, expected_context, atol=1e-5)


def test_general_equals_numpy_equations():
    query, memory, mask = random_inputs(dim=DIM)
    layer = LuongAttention(score="general")
    context, weights = layer(query, memory, memory_mask=mask)
    (kernel,) = [w.numpy() for w in layer.weights]  # (query_dim, memory_dim)

    def general(q, h):  # s . (W h), with W = kernel^T
        return np.einsum("bqd,de,bke->bqk", q, kernel, h)

    expected_context, expected_weights = numpy_luong(query, memory, mask, general)
    assert_allclose(weights, expected_weights, atol=1e-6)
    assert_allclose(context, expected_context, atol=1e-5)


def test_concat_equals_numpy_equations():
    query, memory, mask = random_inputs()
    layer = LuongAttention(score="concat", units=7)
    context, weights = layer(query, memory, memory_mask=mask)
    w_query = layer.query_projection.kernel.numpy()  # (dim, units)
    w_memory = layer.memory_projection.kernel.numpy()
    b_memory = layer.memory_projection.bias.numpy()
    v = layer.score_vector.kernel.numpy()[:, 0]  # (units,)

    def concat(q, h):  # v . tanh(W [s; h])
        hidden = np.tanh(
            (q @ w_query)[:, :, None, :] + (h @ w_memory + b_memory)[:, None, :, :]
        )
        return hidden @ v

    expected_context, expected_weights = numpy_luong(query, memory, mask, concat)
    assert_allclose(weights, expected_weights, atol=1e-6)
    assert_allclose(context, expected_context, atol=1e-5)


def test_dot_equals_keras_attention_on_masked_batch():
    query, memory, mask = random_inputs()
    context, weights = LuongDotAttention()(query, memory, memory_mask=mask)
    keras_context, keras_weights = keras.layers.Attention()(
        [query, memory], mask=[None, mask], return_attention_scores=True
    )
    assert_allclose(weights, keras_weights, atol=1e-6)
    assert_allclose(context, keras_context, atol=1e-6)


def test_padded_positions_get_exactly_zero_weight():
    query, memory, mask = random_inputs()
    _, weights = LuongDotAttention()(query, memory, memory_mask=mask)
    weights = keras.ops.convert_to_numpy(weights)
    padded = np.broadcast_to(~mask[:, None, :], weights.shape)
    assert np.all(weights[padded] == 0.0)
    assert_allclose(weights.sum(-1), np.ones((BATCH, TQ)), atol=1e-6)


@pytest.mark.parametrize("score", ["dot", "general", "concat"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "mixed_float16"])
def test_fully_masked_row_is_finite_zeros(score, dtype):
    query, memory, mask = random_inputs()
    mask[1] = False  # no real position at all in example 1
    layer = LuongAttention(score=score, dtype=dtype)
    context, weights = layer(query, memory, memory_mask=mask)
    context = keras.ops.convert_to_numpy(context)
    weights = keras.ops.convert_to_numpy(weights)
    assert np.all(np.isfinite(context)) and np.all(np.isfinite(weights))
    assert np.all(weights[1] == 0.0) and np.all(context[1] == 0.0)
    assert np.all(weights[0].sum(-1) > 0.99)


def test_float16_masking_matches_float32():
    query, memory, mask = random_inputs()
    query *= 30.0  # large scores: -1e9 - score would overflow float16
    context16, weights16 = LuongDotAttention(dtype="float16")(
        query.astype("float16"), memory.astype("float16"), memory_mask=mask
    )
    context32, weights32 = LuongDotAttention()(query, memory, memory_mask=mask)
    assert keras.backend.standardize_dtype(weights16.dtype) == "float16"
    assert_allclose(
        keras.ops.cast(weights16, "float32"), weights32, atol=2e-2, rtol=2e-2
    )
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(context16)))


def test_single_step_query_matches_sequence_query():
    query, memory, mask = random_inputs()
    layer = LuongAttention(score="general")
    context, weights = layer(query, memory, memory_mask=mask)
    step_context, step_weights = layer(query[:, 2], memory, memory_mask=mask)
    assert tuple(step_context.shape) == (BATCH, DIM)
    assert tuple(step_weights.shape) == (BATCH, TK)
    assert_allclose(step_context, context[:, 2], atol=1e-6)
    assert_allclose(step_weights, weights[:, 2], atol=1e-6)


def test_without_mask_every_position_counts():
    query, memory, _ = random_inputs()
    _, weights = LuongDotAttention()(query, memory)
    assert np.all(keras.ops.convert_to_numpy(weights) > 0)


@pytest.mark.parametrize(
    "layer_cls, init_kwargs",
    [
        (LuongDotAttention, {}),
        (LuongAttention, {"score": "general"}),
        (LuongAttention, {"score": "concat", "units": 3}),
    ],
)
def test_layer_contract(layer_cls, init_kwargs, tmp_path):
    query, memory, mask = random_inputs()
    run_layer_test(
        layer_cls,
        init_kwargs,
        call_args=(query, memory),
        call_kwargs={"memory_mask": mask},
        tmp_path=tmp_path,
    )


def test_general_and_concat_attend_across_sizes():
    query, _, mask = random_inputs()
    memory = np.random.default_rng(1).normal(size=(BATCH, TK, 9)).astype("float32")
    for score in ("general", "concat"):
        context, _ = LuongAttention(score=score)(query, memory, memory_mask=mask)
        assert tuple(context.shape) == (BATCH, TQ, 9)


def test_dot_with_different_sizes_says_so():
    query, _, mask = random_inputs()
    memory = np.zeros((BATCH, TK, DIM + 1), "float32")
    with pytest.raises(ValueError, match="same size.*query_shape"):
        LuongDotAttention()(query, memory, memory_mask=mask)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"score": "additive"}, "argument score.*Received: score='additive'"),
        ({"score": "concat", "units": 0}, "argument units.*Received: units=0"),
        ({"score": "concat", "units": 2.5}, "argument units.*Received: units=2.5"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LuongAttention(**kwargs)
