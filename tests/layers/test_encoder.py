import numpy as np
import pytest

from s2s_keras.layers import Encoder
from tests.test_case import assert_allclose
from tests.test_case import run_layer_test

SOURCE_IDS = np.array([[5, 6, 7, 8, 9], [10, 11, 12, 0, 0]], "int32")


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_shapes(num_layers, bidirectional):
    encoder = Encoder(20, 4, 8, num_layers=num_layers, bidirectional=bidirectional)
    memory, memory_mask, states = encoder(SOURCE_IDS)
    assert tuple(memory.shape) == (2, 5, 8)
    assert tuple(memory_mask.shape) == (2, 5)
    assert len(states) == 2 * num_layers
    assert all(tuple(state.shape) == (2, 8) for state in states)
    np.testing.assert_array_equal(np.asarray(memory_mask), SOURCE_IDS != 0)


def test_final_states_are_those_of_the_last_real_token():
    encoder = Encoder(20, 4, 8)
    memory, _, (h_last, _) = encoder(SOURCE_IDS)
    assert_allclose(h_last[0], memory[0, 4])  # h_S of a full row
    assert_allclose(h_last[1], memory[1, 2])  # h_S of a row with 2 pads


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_changes_nothing(bidirectional):
    encoder = Encoder(20, 4, 8, num_layers=2, bidirectional=bidirectional)
    short = np.array([[10, 11, 12]], "int32")
    padded = np.array([[10, 11, 12, 0, 0, 0]], "int32")
    memory_short, _, states_short = encoder(short)
    memory_padded, _, states_padded = encoder(padded)
    assert_allclose(memory_padded[:, :3], memory_short, atol=1e-6)
    for state_short, state_padded in zip(states_short, states_padded, strict=True):
        assert_allclose(state_padded, state_short, atol=1e-6)


def test_bidirectional_bridge_concatenates_both_directions():
    encoder = Encoder(20, 4, 8, bidirectional=True)
    memory, _, (h, _) = encoder(SOURCE_IDS)
    # Forward half: the state after the last real token; backward half: the
    # state after reading right to left down to the first token.
    assert_allclose(h[1, :4], memory[1, 2, :4])
    assert_allclose(h[1, 4:], memory[1, 0, 4:])


def test_dropout_only_in_training():
    encoder = Encoder(20, 4, 8, dropout=0.5)
    inference_a = encoder(SOURCE_IDS)[0]
    inference_b = encoder(SOURCE_IDS)[0]
    training = encoder(SOURCE_IDS, training=True)[0]
    assert_allclose(inference_a, inference_b)
    assert not np.allclose(np.asarray(training), np.asarray(inference_a))


@pytest.mark.parametrize(
    "init_kwargs, weights",
    [
        ({"vocab_size": 20, "embedding_dim": 4, "units": 6}, 1 + 3),
        (
            {
                "vocab_size": 20,
                "embedding_dim": 4,
                "units": 6,
                "num_layers": 2,
                "bidirectional": True,
                "dropout": 0.25,
            },
            1 + 2 * 2 * 3,  # the embeddings, and 3 per LSTM: 2 layers, 2 ways
        ),
    ],
)
def test_layer_contract(init_kwargs, weights, tmp_path):
    batch, length = SOURCE_IDS.shape
    states = [(batch, 6)] * 2 * init_kwargs.get("num_layers", 1)
    run_layer_test(
        Encoder,
        init_kwargs,
        call_args=(SOURCE_IDS,),
        tmp_path=tmp_path,
        expected_output_shapes=((batch, length, 6), (batch, length), states),
        expected_num_trainable_weights=weights,
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"vocab_size": 0}, "argument vocab_size.*Received: vocab_size=0"),
        ({"embedding_dim": -3}, "argument embedding_dim.*Received: embedding_dim=-3"),
        ({"units": "64"}, "argument units.*Received: units='64'"),
        ({"num_layers": 0}, "argument num_layers.*Received: num_layers=0"),
        ({"dropout": 1.0}, r"argument dropout.*\[0, 1\).*Received: dropout=1.0"),
        (
            {"bidirectional": "yes"},
            "argument bidirectional.*Received: bidirectional='yes'",
        ),
        ({"units": 7, "bidirectional": True}, "units.*even.*Received: units=7"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    arguments = {"vocab_size": 20, "embedding_dim": 4, "units": 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        Encoder(**arguments)
