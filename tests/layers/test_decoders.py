"""Tests for `Decoder` and `AttentionDecoder`: the two modes agree."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from s2s_keras.layers import AttentionDecoder
from s2s_keras.layers import Decoder
from tests.test_case import assert_allclose
from tests.test_case import run_layer_test

VOCAB, EMBEDDING, UNITS, SOURCE = 20, 4, 8, 6
TARGET_IDS = np.array([[2, 5, 6, 7, 8], [2, 9, 10, 0, 0]], "int32")


def encoder_outputs(num_layers=1, seed=0):
    rng = np.random.default_rng(seed)
    memory = rng.normal(size=(2, SOURCE, UNITS)).astype("float32")
    memory_mask = np.array([[True] * SOURCE, [True] * 3 + [False] * 3])
    states = [
        rng.normal(size=(2, UNITS)).astype("float32") for _ in range(2 * num_layers)
    ]
    return memory, memory_mask, states


def run_steps(decoder, memory, memory_mask, states):
    """Feeds TARGET_IDS one token at a time through `decoder.step`."""
    state = decoder.get_initial_state(states, memory)
    logits, weights = [], []
    for t in range(TARGET_IDS.shape[1]):
        step_logits, state, step_weights = decoder.step(
            TARGET_IDS[:, t], state, memory, memory_mask
        )
        logits.append(step_logits)
        weights.append(step_weights)
    return keras.ops.stack(logits, 1), weights


ATTENTION_CONFIGS = [
    {"attention": "dot"},
    {"attention": "general"},
    {"attention": "concat"},
    {"attention": "dot", "input_feeding": True},
    {"attention": "general", "input_feeding": True, "num_layers": 2},
    {"attention": "dot", "num_layers": 3, "dropout": 0.3},
    {"attention": "concat", "coverage": True},
    {"attention": "dot", "coverage": True},
    {"attention": "general", "coverage": True, "num_layers": 2},
    {"attention": "dot", "coverage": True, "input_feeding": True, "num_layers": 2},
    {"attention": "dot", "tie_embeddings": True},
    {"attention": "general", "coverage": True, "tie_embeddings": True},
]


@pytest.mark.parametrize("config", ATTENTION_CONFIGS)
def test_attention_decoder_step_equals_full_sequence(config):
    num_layers = config.get("num_layers", 1)
    memory, memory_mask, states = encoder_outputs(num_layers)
    decoder = AttentionDecoder(VOCAB, EMBEDDING, UNITS, **config)
    logits, weights = decoder(
        TARGET_IDS, memory, memory_mask, initial_state=states, return_attention=True
    )
    step_logits, step_weights = run_steps(decoder, memory, memory_mask, states)
    real = TARGET_IDS != 0
    assert_allclose(np.asarray(step_logits)[real], np.asarray(logits)[real], atol=1e-5)
    step_weights = np.stack([np.asarray(w) for w in step_weights], 1)
    assert_allclose(step_weights[real], np.asarray(weights)[real], atol=1e-6)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_plain_decoder_step_equals_full_sequence(num_layers):
    _, _, states = encoder_outputs(num_layers)
    decoder = Decoder(VOCAB, EMBEDDING, UNITS, num_layers=num_layers)
    logits = decoder(TARGET_IDS, initial_state=states)
    step_logits, step_weights = run_steps(decoder, None, None, states)
    real = TARGET_IDS != 0
    assert_allclose(np.asarray(step_logits)[real], np.asarray(logits)[real], atol=1e-5)
    assert all(weights is None for weights in step_weights)


def test_plain_decoder_ignores_the_source_beyond_its_state():
    """The bottleneck: only (h_S, c_S) reaches the plain decoder."""
    memory, memory_mask, states = encoder_outputs()
    decoder = Decoder(VOCAB, EMBEDDING, UNITS)
    first = decoder.step(TARGET_IDS[:, 0], states, memory, memory_mask)[0]
    other = decoder.step(TARGET_IDS[:, 0], states, memory * 10.0, memory_mask)[0]
    assert_allclose(first, other)
    attending = AttentionDecoder(VOCAB, EMBEDDING, UNITS)
    first = attending.step(TARGET_IDS[:, 0], states, memory, memory_mask)[0]
    other = attending.step(TARGET_IDS[:, 0], states, memory * 10.0, memory_mask)[0]
    assert not np.allclose(np.asarray(first), np.asarray(other))


def test_attention_weights_skip_padded_source():
    memory, memory_mask, states = encoder_outputs()
    decoder = AttentionDecoder(VOCAB, EMBEDDING, UNITS)
    _, weights = decoder(
        TARGET_IDS, memory, memory_mask, initial_state=states, return_attention=True
    )
    weights = np.asarray(weights)
    assert weights.shape == (2, TARGET_IDS.shape[1], SOURCE)
    assert np.all(weights[1, :, 3:] == 0.0)
    assert_allclose(weights.sum(-1), np.ones(weights.shape[:2]), atol=1e-6)


def test_prediction_is_made_after_attention():
    """Changing only the output weights on the context part changes logits."""
    memory, memory_mask, states = encoder_outputs()
    decoder = AttentionDecoder(VOCAB, EMBEDDING, UNITS)
    before = decoder(TARGET_IDS, memory, memory_mask, initial_state=states)
    kernel = decoder.output_projection.kernel  # (units + memory_dim, vocab)
    assert tuple(kernel.shape) == (2 * UNITS, VOCAB)
    kernel.assign(keras.ops.concatenate([kernel[:UNITS], kernel[UNITS:] * 0], 0))
    after = decoder(TARGET_IDS, memory, memory_mask, initial_state=states)
    assert not np.allclose(np.asarray(before), np.asarray(after))


def test_logits_carry_the_target_mask():
    memory, memory_mask, states = encoder_outputs()
    for decoder, args in [
        (AttentionDecoder(VOCAB, EMBEDDING, UNITS), (memory, memory_mask)),
        (Decoder(VOCAB, EMBEDDING, UNITS), ()),
        (Decoder(VOCAB, EMBEDDING, UNITS, tie_embeddings=True), ()),
    ]:
        logits = decoder(TARGET_IDS, *args, initial_state=states)
        mask = logits._keras_mask  # what Keras losses and metrics read
        np.testing.assert_array_equal(np.asarray(mask), TARGET_IDS != 0)


@pytest.mark.parametrize(
    "init_kwargs",
    [
        {"vocab_size": VOCAB, "embedding_dim": EMBEDDING, "units": UNITS},
        {
            "vocab_size": VOCAB,
            "embedding_dim": EMBEDDING,
            "units": UNITS,
            "num_layers": 2,
            "attention": "concat",
            "input_feeding": True,
            "dropout": 0.1,
        },
        {
            "vocab_size": VOCAB,
            "embedding_dim": EMBEDDING,
            "units": UNITS,
            "coverage": True,
            "coverage_loss_weight": 0.5,
        },
        {
            "vocab_size": VOCAB,
            "embedding_dim": EMBEDDING,
            "units": UNITS,
            "tie_embeddings": True,
        },
    ],
)
def test_attention_decoder_contract(init_kwargs, tmp_path):
    memory, memory_mask, states = encoder_outputs(init_kwargs.get("num_layers", 1))
    run_layer_test(
        AttentionDecoder,
        init_kwargs,
        call_args=(TARGET_IDS, memory, memory_mask),
        call_kwargs={"initial_state": states, "return_attention": True},
        tmp_path=tmp_path,
    )


def test_decoder_contract(tmp_path):
    _, _, states = encoder_outputs(2)
    run_layer_test(
        Decoder,
        {
            "vocab_size": VOCAB,
            "embedding_dim": EMBEDDING,
            "units": UNITS,
            "num_layers": 2,
        },
        call_args=(TARGET_IDS,),
        call_kwargs={"initial_state": states},
        tmp_path=tmp_path,
        expected_output_shapes=(*TARGET_IDS.shape, VOCAB),
        # Embeddings, 3 per LSTM layer, the output projection's kernel and bias.
        expected_num_trainable_weights=1 + 2 * 3 + 2,
    )


def test_wrong_number_of_states_says_what_it_expects():
    memory, memory_mask, states = encoder_outputs(1)
    decoder = AttentionDecoder(VOCAB, EMBEDDING, UNITS, num_layers=2)
    with pytest.raises(ValueError, match="expects a state of 4 tensors.*Received: 2"):
        decoder(TARGET_IDS, memory, memory_mask, initial_state=states)
    with pytest.raises(
        ValueError, match="expects a state of 2 tensors.*Received: None"
    ):
        Decoder(VOCAB, EMBEDDING, UNITS)(TARGET_IDS)


def test_step_needs_memory_and_input_feeding_needs_it_to_start():
    _, _, states = encoder_outputs()
    with pytest.raises(ValueError, match="Received: memory=None"):
        AttentionDecoder(VOCAB, EMBEDDING, UNITS).step(TARGET_IDS[:, 0], states)
    feeding = AttentionDecoder(VOCAB, EMBEDDING, UNITS, input_feeding=True)
    with pytest.raises(ValueError, match="input_feeding=True.*Received: memory=None"):
        feeding.get_initial_state(states)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"attention": "bahdanau"},
            "argument attention.*Received: attention='bahdanau'",
        ),
        ({"input_feeding": 1}, "argument input_feeding.*Received: input_feeding=1"),
        ({"units": 0}, "argument units.*Received: units=0"),
        ({"dropout": -0.1}, "argument dropout.*Received: dropout=-0.1"),
        (
            {"coverage_loss_weight": -1.0},
            "argument coverage_loss_weight.*Received: coverage_loss_weight=-1.0",
        ),
        ({"coverage": "yes"}, "argument coverage.*Received: coverage='yes'"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    arguments = {"vocab_size": VOCAB, "embedding_dim": EMBEDDING, "units": UNITS}
    with pytest.raises(ValueError, match=match):
        AttentionDecoder(**{**arguments, **kwargs})


@pytest.mark.parametrize("copy", [False, True], ids=["generate", "copy"])
@pytest.mark.parametrize("coverage", [False, True], ids=["", "coverage"])
@pytest.mark.parametrize("input_feeding", [False, True], ids=["", "feeding"])
def test_a_wrong_state_size_names_every_part_of_the_state(
    copy, coverage, input_feeding
):
    from s2s_keras.layers import CopyAttentionDecoder

    decoder_class = CopyAttentionDecoder if copy else AttentionDecoder
    decoder = decoder_class(
        vocab_size=20,
        embedding_dim=4,
        units=8,
        num_layers=2,
        input_feeding=input_feeding,
        coverage=coverage,
    )
    memory = np.zeros((2, 5, 8), "float32")
    source_ids = np.ones((2, 5), "int32")
    state = decoder.get_initial_state([memory[:, 0]] * 4, memory, source_ids=source_ids)
    parts = ["h and c for each of its 2 layer"]
    parts += ["the fed context"] * input_feeding + ["the coverage vector"] * coverage
    parts += ["the source ids to copy from"] * copy
    assert len(state) == 4 + input_feeding + coverage + copy
    with pytest.raises(ValueError) as raised:
        decoder.step(np.array([2, 2]), state[:-1], memory)
    message = str(raised.value)
    assert f"expects a state of {len(state)} tensors" in message
    assert f"Received: {len(state) - 1} tensors" in message
    positions = [message.index(part) for part in parts]  # each named, in order
    assert positions == sorted(positions)
    assert message.count(", then ") == len(parts) - 1


@pytest.mark.tensorflow  # the gradient through tf.GradientTape
def test_a_tied_output_layer_scores_words_by_their_embeddings():
    """logits = (P features) . E^T + b: no vocabulary-wide matrix of its own,
    and the embedding of a word never read is trained from the output side."""
    memory, memory_mask, states = encoder_outputs()
    decoder = AttentionDecoder(VOCAB, EMBEDDING, UNITS, tie_embeddings=True)
    logits, weights = decoder(
        TARGET_IDS, memory, memory_mask, initial_state=states, return_attention=True
    )
    assert not [w for w in decoder.trainable_weights if VOCAB in w.shape[1:]]
    readout = decoder.output_projection
    readout.bias.assign(np.linspace(-1, 1, VOCAB).astype("float32"))
    features = np.random.default_rng(0).normal(size=(3, UNITS + UNITS))
    features = features.astype("float32")
    embeddings = np.asarray(decoder.embedding.embeddings)
    expected = features @ np.asarray(readout.projection.kernel) @ embeddings.T
    assert_allclose(
        readout(features, embeddings), expected + np.asarray(readout.bias), atol=1e-5
    )
    unread = 15  # in no target row: only the output side can train it
    assert unread not in TARGET_IDS
    with tf.GradientTape() as tape:
        logits = decoder(TARGET_IDS, memory, memory_mask, initial_state=states)
        loss = keras.ops.mean(keras.ops.log_softmax(logits)[..., unread])
    gradient = tape.gradient(loss, decoder.embedding.embeddings)
    assert np.abs(np.asarray(tf.convert_to_tensor(gradient))[unread]).sum() > 0
