"""The pointer-generator decoder: the gate's two ends, and the two modes."""

import keras
import numpy as np
import pytest

from s2s_keras import build_seq2seq
from s2s_keras.decoding import generate
from s2s_keras.layers import AttentionDecoder
from s2s_keras.layers import CopyAttentionDecoder
from tests.layers.test_decoders import TARGET_IDS
from tests.layers.test_decoders import encoder_outputs
from tests.test_case import assert_allclose
from tests.test_case import run_layer_test

VOCAB, EMBEDDING, UNITS = 20, 4, 8
SOURCE_IDS = np.array([[5, 6, 5, 7, 8, 9], [10, 11, 10, 0, 0, 0]], "int32")


def copy_decoder_like(plain, gate_bias, **config):
    """A copy decoder with `plain`'s weights and a gate fixed at one end."""
    memory, memory_mask, states = encoder_outputs()
    decoder = CopyAttentionDecoder(VOCAB, EMBEDDING, UNITS, **config)
    decoder(
        TARGET_IDS, memory, memory_mask, initial_state=states, source_ids=SOURCE_IDS
    )
    for name in ("embedding", "output_projection"):
        getattr(decoder, name).set_weights(getattr(plain, name).get_weights())
    decoder.recurrent_layers[0].set_weights(plain.recurrent_layers[0].get_weights())
    kernel, bias = decoder.copy_gate.get_weights()
    decoder.copy_gate.set_weights([kernel * 0, bias * 0 + gate_bias])
    return decoder


def test_gate_at_one_is_the_plain_attention_decoder():
    memory, memory_mask, states = encoder_outputs()
    plain = AttentionDecoder(VOCAB, EMBEDDING, UNITS)
    logits = plain(TARGET_IDS, memory, memory_mask, initial_state=states)
    decoder = copy_decoder_like(plain, gate_bias=50.0)
    log_probs = decoder(
        TARGET_IDS, memory, memory_mask, initial_state=states, source_ids=SOURCE_IDS
    )
    assert_allclose(log_probs, keras.ops.log_softmax(logits), atol=1e-5)


def test_gate_at_zero_copies_the_attention_onto_source_tokens():
    memory, memory_mask, states = encoder_outputs()
    plain = AttentionDecoder(VOCAB, EMBEDDING, UNITS)
    plain(TARGET_IDS, memory, memory_mask, initial_state=states)
    decoder = copy_decoder_like(plain, gate_bias=-50.0)
    log_probs, weights = decoder(
        TARGET_IDS, memory, memory_mask, initial_state=states,
        source_ids=SOURCE_IDS, return_attention=True,
    )  # fmt: skip
    probs, weights = np.exp(np.asarray(log_probs)), np.asarray(weights)
    expected = np.zeros_like(probs)
    for row in range(2):
        for position, token in enumerate(SOURCE_IDS[row]):
            expected[row, :, token] += weights[row, :, position]
    assert_allclose(probs, expected, atol=1e-6)
    assert_allclose(probs[0, :, 5], weights[0, :, 0] + weights[0, :, 2], atol=1e-6)


def test_probabilities_sum_to_one_and_step_equals_full_sequence():
    memory, memory_mask, states = encoder_outputs()
    decoder = CopyAttentionDecoder(VOCAB, EMBEDDING, UNITS, input_feeding=True)
    log_probs = decoder(
        TARGET_IDS, memory, memory_mask, initial_state=states, source_ids=SOURCE_IDS
    )
    assert_allclose(np.exp(np.asarray(log_probs)).sum(-1), np.ones((2, 5)), atol=1e-5)
    state = decoder.get_initial_state(states, memory, source_ids=SOURCE_IDS)
    real = TARGET_IDS != 0
    for t in range(TARGET_IDS.shape[1]):
        step_log_probs, state, _ = decoder.step(
            TARGET_IDS[:, t], state, memory, memory_mask
        )
        assert_allclose(
            np.asarray(step_log_probs)[real[:, t]],
            np.asarray(log_probs)[:, t][real[:, t]],
            atol=1e-5,
        )


def test_layer_contract(tmp_path):
    memory, memory_mask, states = encoder_outputs()
    run_layer_test(
        CopyAttentionDecoder,
        {"vocab_size": VOCAB, "embedding_dim": EMBEDDING, "units": UNITS},
        call_args=(TARGET_IDS, memory, memory_mask),
        call_kwargs={"initial_state": states, "source_ids": SOURCE_IDS},
        tmp_path=tmp_path,
        expected_output_shapes=(*TARGET_IDS.shape, VOCAB),
        # The attention decoder's (embeddings, LSTM, projection) and the gate's.
        expected_num_trainable_weights=1 + 3 + 2 + 2,
    )


def test_model_with_copy_trains_and_reloads(tmp_path):
    model = build_seq2seq(VOCAB, VOCAB, embedding_dim=4, units=8, copy=True)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    inputs = {
        "source_ids": SOURCE_IDS,
        "target_ids": np.array([[2, 5, 6], [2, 10, 0]], "int32"),
    }
    labels = np.array([[5, 6, 3], [10, 3, 0]], "int32")
    history = model.fit(inputs, labels, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "copy.keras")
    reloaded = keras.saving.load_model(tmp_path / "copy.keras", safe_mode=True)
    assert_allclose(reloaded(inputs), model(inputs), atol=1e-6)


@pytest.mark.tensorflow
@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_model_with_copy_generates(method):
    model = build_seq2seq(VOCAB, VOCAB, embedding_dim=4, units=8, copy=True)
    ids = generate(model, SOURCE_IDS, max_length=5, method=method)["target_ids"]
    assert ids.shape[0] == 2


def test_copy_needs_attention_and_a_shared_vocabulary():
    with pytest.raises(ValueError, match="copy.*attention=None"):
        build_seq2seq(VOCAB, VOCAB, copy=True, attention=None)
    with pytest.raises(ValueError, match="copy.*target_vocab_size=30"):
        build_seq2seq(VOCAB, 30, copy=True)
    memory, memory_mask, states = encoder_outputs()
    with pytest.raises(ValueError, match="Received: source_ids=None"):
        CopyAttentionDecoder(VOCAB, EMBEDDING, UNITS)(
            TARGET_IDS, memory, memory_mask, initial_state=states
        )
