"""Coverage: the loss's two ends, the score's start, and the loss in model.fit."""

import keras
import numpy as np
import pytest

from s2s_keras import build_seq2seq
from s2s_keras.decoding import generate
from s2s_keras.layers import AttentionDecoder
from s2s_keras.layers import CopyAttentionDecoder
from s2s_keras.layers import LuongAttention
from s2s_keras.layers.attention_decoder import coverage_loss
from tests.layers.test_copy_decoder import SOURCE_IDS
from tests.layers.test_decoders import TARGET_IDS
from tests.layers.test_decoders import encoder_outputs
from tests.test_case import assert_allclose

VOCAB, EMBEDDING, UNITS = 20, 4, 8


def test_coverage_loss_is_zero_for_one_step_and_for_attention_that_moves_on():
    one_step = np.array([[[0.2, 0.8, 0.0]]], "float32")
    assert float(coverage_loss(one_step, np.array([[5]]))) == 0.0
    moving_on = np.eye(3, dtype="float32")[None]  # step t attends to position t
    assert float(coverage_loss(moving_on, np.array([[5, 6, 7]]))) == 0.0


def test_coverage_loss_grows_with_repeated_attention():
    same_place = np.array([[[0.1, 0.9, 0.0]] * 4], "float32")
    losses = [
        float(coverage_loss(same_place[:, :steps], np.full((1, steps), 5)))
        for steps in (2, 3, 4)
    ]
    # Step t adds sum_i min(a_i, t * a_i) = 1, averaged over the steps: (t-1)/t.
    assert_allclose(losses, [1 / 2, 2 / 3, 3 / 4], atol=1e-6)


def test_coverage_loss_ignores_padded_target_steps():
    weights = np.array([[[1.0, 0.0]] * 3], "float32")
    with_padding = float(coverage_loss(weights, np.array([[5, 6, 0]])))
    assert with_padding == pytest.approx(float(coverage_loss(weights[:, :2], [[5, 6]])))


@pytest.mark.parametrize("decoder_class", [AttentionDecoder, CopyAttentionDecoder])
def test_coverage_starts_as_plain_attention(decoder_class):
    """w_cov starts at 0: before training, coverage changes no output."""
    memory, memory_mask, states = encoder_outputs()
    extra = {"source_ids": SOURCE_IDS} if decoder_class is CopyAttentionDecoder else {}
    plain = decoder_class(VOCAB, EMBEDDING, UNITS)
    covered = decoder_class(VOCAB, EMBEDDING, UNITS, coverage=True)
    outputs = plain(TARGET_IDS, memory, memory_mask, initial_state=states, **extra)
    covered(TARGET_IDS, memory, memory_mask, initial_state=states, **extra)
    by_path = {w.path.split("/", 1)[1]: w for w in covered.weights}
    for weight in plain.weights:
        by_path[weight.path.split("/", 1)[1]].assign(weight)
    expected = covered(TARGET_IDS, memory, memory_mask, initial_state=states, **extra)
    real = TARGET_IDS != 0  # padded steps are masked out of every loss
    assert_allclose(np.asarray(expected)[real], np.asarray(outputs)[real], atol=1e-5)
    assert len(covered.losses) == 1 and len(plain.losses) == 0


def test_coverage_weight_changes_the_scores():
    attention = LuongAttention(coverage=True)
    query = np.ones((1, 4), "float32")
    memory = np.ones((1, 3, 4), "float32")  # equal scores: uniform weights
    coverage = np.array([[1.0, 0.0, 0.0]], "float32")
    _, weights = attention(query, memory, coverage=coverage)
    assert_allclose(weights, np.full((1, 3), 1 / 3), atol=1e-6)
    attention.coverage_weight.assign(-5.0)  # learned: avoid what was covered
    _, weights = attention(query, memory, coverage=coverage)
    assert float(weights[0, 0]) < 0.01 and float(weights[0, 1]) == pytest.approx(
        float(weights[0, 2])
    )


def test_attention_refuses_a_coverage_vector_it_was_not_built_for():
    query, memory = np.ones((1, 4), "float32"), np.ones((1, 3, 4), "float32")
    with pytest.raises(ValueError, match="coverage=True: pass a coverage"):
        LuongAttention(coverage=True)(query, memory)
    with pytest.raises(ValueError, match="coverage=False: do not pass"):
        LuongAttention()(query, memory, coverage=np.zeros((1, 3), "float32"))


def test_model_fit_minimizes_the_weighted_coverage_loss(tmp_path):
    inputs = {
        "source_ids": SOURCE_IDS,
        "target_ids": np.array([[2, 5, 6, 7], [2, 10, 11, 0]], "int32"),
    }
    labels = np.array([[5, 6, 7, 3], [10, 11, 3, 0]], "int32")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    losses = {}
    for weight in (0.0, 10.0):
        keras.utils.set_random_seed(0)
        model = build_seq2seq(
            VOCAB,
            VOCAB,
            4,
            8,
            copy=True,
            coverage=True,
            coverage_loss_weight=weight,
        )
        model.compile("adam", loss)
        losses[weight] = model.evaluate(inputs, labels, verbose=0)
    # Same weights (same seed), so the difference is the weighted coverage loss.
    decoder_loss = losses[10.0] - losses[0.0]
    assert decoder_loss > 0
    history = model.fit(inputs, labels, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "coverage.keras")
    reloaded = keras.saving.load_model(tmp_path / "coverage.keras", safe_mode=True)
    assert reloaded.get_layer("decoder").coverage_loss_weight == 10.0
    assert_allclose(reloaded(inputs), model(inputs), atol=1e-6)


@pytest.mark.tensorflow
@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_model_with_coverage_generates(method):
    model = build_seq2seq(VOCAB, VOCAB, 4, 8, copy=True, coverage=True)
    ids = generate(model, SOURCE_IDS, max_length=5, method=method)["target_ids"]
    assert ids.shape[0] == 2


def test_coverage_needs_attention():
    with pytest.raises(ValueError, match="coverage=True, attention=None"):
        build_seq2seq(VOCAB, VOCAB, coverage=True, attention=None)


@pytest.mark.parametrize("decoder_class", [AttentionDecoder, CopyAttentionDecoder])
def test_without_input_feeding_the_lstm_reads_the_whole_target_at_once(
    decoder_class, monkeypatch
):
    """Only attention loops over time: the LSTM never runs one token at a time."""
    memory, memory_mask, states = encoder_outputs()
    extra = {"source_ids": SOURCE_IDS} if decoder_class is CopyAttentionDecoder else {}
    decoder = decoder_class(VOCAB, EMBEDDING, UNITS, coverage=True)
    decoder(TARGET_IDS, memory, memory_mask, initial_state=states, **extra)
    decoder.attention_layer.coverage_weight.assign(-3.0)  # coverage matters
    expected, _ = step_by_step(decoder, memory, memory_mask, states, extra)

    def one_token_at_a_time(*args, **kwargs):
        raise AssertionError("the LSTM ran one target token at a time")

    monkeypatch.setattr(decoder, "_run_step", one_token_at_a_time)
    outputs, weights = decoder(
        TARGET_IDS, memory, memory_mask, initial_state=states,
        return_attention=True, **extra,
    )  # fmt: skip
    real = TARGET_IDS != 0
    assert_allclose(np.asarray(outputs)[real], expected[real], atol=1e-5)
    # cov_t is the sum of the weights before step t: the later steps see it.
    assert_allclose(np.asarray(weights).sum(-1)[real], np.ones(real.sum()), atol=1e-5)


def step_by_step(decoder, memory, memory_mask, states, extra):
    """The decoder's `step` over TARGET_IDS: outputs `(2, T, vocab)`, weights."""
    state = decoder.get_initial_state(states, memory, **extra)
    outputs, weights = [], []
    for t in range(TARGET_IDS.shape[1]):
        output, state, step_weights = decoder.step(
            TARGET_IDS[:, t], state, memory, memory_mask
        )
        outputs.append(np.asarray(output))
        weights.append(np.asarray(step_weights))
    return np.stack(outputs, 1), np.stack(weights, 1)


@pytest.mark.tensorflow  # tf.GradientTape
def test_coverage_gradients_equal_the_step_paths():
    """Training sees the same function as generation: gradients agree too."""
    import tensorflow as tf

    memory, memory_mask, states = encoder_outputs()
    extra = {"source_ids": SOURCE_IDS}
    decoder = CopyAttentionDecoder(VOCAB, EMBEDDING, UNITS, coverage=True)
    decoder(TARGET_IDS, memory, memory_mask, initial_state=states, **extra)
    decoder.attention_layer.coverage_weight.assign(-3.0)
    labels = np.roll(TARGET_IDS, -1, axis=1)
    real = tf.constant(TARGET_IDS != 0, "float32")

    def gradients(run):
        with tf.GradientTape() as tape:
            log_probs = run()
            picked = tf.gather(log_probs, labels, axis=-1, batch_dims=2)
            loss = -tf.reduce_sum(picked * real)
        return tape.gradient(loss, decoder.trainable_weights)

    def whole():
        return decoder(TARGET_IDS, memory, memory_mask, initial_state=states, **extra)

    def steps():
        state = decoder.get_initial_state(states, memory, **extra)
        outputs = []
        for t in range(TARGET_IDS.shape[1]):
            output, state, _ = decoder.step(
                TARGET_IDS[:, t], state, memory, memory_mask
            )
            outputs.append(output)
        return tf.stack(outputs, 1)

    for whole_gradient, step_gradient in zip(
        gradients(whole), gradients(steps), strict=True
    ):
        assert_allclose(whole_gradient, step_gradient, atol=1e-5)
