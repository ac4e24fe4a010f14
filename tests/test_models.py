import functools
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from s2s_keras import build_seq2seq
from s2s_keras.special_tokens import BOS_ID
from s2s_keras.special_tokens import EOS_ID
from tests.test_case import assert_allclose

FLAVOURS = [
    {"attention": "dot"},
    {"attention": "general", "input_feeding": True, "bidirectional": True},
    {"attention": "concat", "num_layers": 2, "dropout": 0.1},
    {"attention": None},
    {"attention": None, "num_layers": 2, "bidirectional": True},
    {"attention": "dot", "tie_embeddings": True},
    {"attention": None, "tie_embeddings": True},
]


def tiny_batch():
    source_ids = np.array([[5, 6, 7, 8], [9, 10, 0, 0]], "int32")
    target_ids = np.array([[BOS_ID, 11, 12], [BOS_ID, 13, 0]], "int32")
    labels = np.array([[11, 12, EOS_ID], [13, EOS_ID, 0]], "int32")
    return {"source_ids": source_ids, "target_ids": target_ids}, labels


def reverse_task(count, vocab_size, rng):
    """Pairs (x, reversed x) of 3 to 6 tokens, as model inputs and labels."""
    first_word = EOS_ID + 1
    max_length = 6
    source = np.zeros((count, max_length), "int32")
    target = np.zeros((count, max_length + 1), "int32")
    labels = np.zeros((count, max_length + 1), "int32")
    for row in range(count):
        length = rng.integers(3, max_length + 1)
        words = rng.integers(first_word, vocab_size, size=length)
        source[row, :length] = words
        target[row, : length + 1] = [BOS_ID, *words[::-1]]
        labels[row, : length + 1] = [*words[::-1], EOS_ID]
    return {"source_ids": source, "target_ids": target}, labels


def compile_model(model, learning_rate=1e-2):
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


@pytest.mark.parametrize("config", FLAVOURS)
def test_builds_and_trains(config):
    model = compile_model(build_seq2seq(20, 30, embedding_dim=4, units=8, **config))
    inputs, labels = tiny_batch()
    assert tuple(model(inputs).shape) == (2, 3, 30)
    assert model.get_layer("encoder") and model.get_layer("decoder")
    history = model.fit(inputs, labels, epochs=3, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_padding_costs_nothing_in_the_loss():
    """Keras applies the logits' mask once: the loss is the mean over real tokens."""
    model = compile_model(build_seq2seq(20, 30, embedding_dim=4, units=8))
    inputs, labels = tiny_batch()
    logits = keras.ops.convert_to_numpy(model(inputs))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    token_losses = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
    real = inputs["target_ids"] != 0
    loss = model.evaluate(inputs, labels, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, token_losses[real].mean(), rtol=1e-5)


@pytest.mark.parametrize("tie_embeddings", [False, True], ids=["", "tied"])
@pytest.mark.parametrize("attention", ["dot", None])
def test_keras_round_trip_gives_identical_outputs(attention, tie_embeddings, tmp_path):
    model = build_seq2seq(
        20, 30, embedding_dim=4, units=8, attention=attention,
        tie_embeddings=tie_embeddings,
    )  # fmt: skip
    inputs, labels = tiny_batch()
    compile_model(model).fit(inputs, labels, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert_allclose(reloaded(inputs), model(inputs))
    reloaded.fit(inputs, labels, epochs=1, verbose=0)  # and it trains on


def test_reloads_in_a_fresh_process(tmp_path):
    model = build_seq2seq(20, 30, embedding_dim=4, units=8, attention="general")
    inputs, _ = tiny_batch()
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "expected.npy", keras.ops.convert_to_numpy(model(inputs)))
    np.savez(tmp_path / "inputs.npz", **inputs)
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        import s2s_keras  # registers the layers
        model = keras.saving.load_model({str(tmp_path / "model.keras")!r})
        inputs = dict(np.load({str(tmp_path / "inputs.npz")!r}))
        expected = np.load({str(tmp_path / "expected.npy")!r})
        np.testing.assert_allclose(np.asarray(model(inputs)), expected, atol=1e-6)
        print("identical")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "identical" in result.stdout


@pytest.mark.parametrize("attention", ["dot", None])
def test_learns_to_reverse_short_sequences(attention):
    rng = np.random.default_rng(0)
    train_inputs, train_labels = reverse_task(2000, 12, rng)
    test_inputs, test_labels = reverse_task(200, 12, rng)
    model = compile_model(
        build_seq2seq(12, 12, embedding_dim=16, units=64, attention=attention)
    )
    model.fit(train_inputs, train_labels, batch_size=32, epochs=3, verbose=0)
    accuracy = model.evaluate(test_inputs, test_labels, verbose=0, return_dict=True)[
        "accuracy"
    ]
    # Attention learns this alignment almost at once; the plain model has to
    # squeeze the whole sequence through (h_S, c_S) and lags behind.
    threshold = 0.95 if attention else 0.8
    assert accuracy > threshold, accuracy


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"attention": "bahdanau"},
            "argument attention.*Received: attention='bahdanau'",
        ),
        ({"attention": None, "input_feeding": True}, "input_feeding.*needs attention"),
        ({"units": -1}, "argument units.*Received: units=-1"),
        ({"units": 7, "bidirectional": True}, "even.*Received: units=7"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_seq2seq(20, 30, **kwargs)


def test_a_tied_model_quantized_to_int8_answers_like_the_float_one():
    from s2s_keras.export.directory import quantized_copy

    model = build_seq2seq(20, 20, embedding_dim=8, units=16, tie_embeddings=True)
    inputs, labels = tiny_batch()
    compile_model(model).fit(inputs, labels, epochs=2, verbose=0)
    quantized = quantized_copy(model)
    decoder = quantized.get_layer("decoder")
    assert keras.backend.standardize_dtype(decoder.embedding.embeddings.dtype) == "int8"
    logits, int8_logits = np.asarray(model(inputs)), np.asarray(quantized(inputs))
    assert np.abs(int8_logits - logits).max() < 0.05 * np.abs(logits).max()


@pytest.mark.parametrize(
    "config", [*FLAVOURS, {"attention": "dot", "copy": True, "coverage": True}]
)
def test_building_or_reloading_a_model_runs_no_layer(config, monkeypatch):
    """Every layer says its outputs' shapes: Keras traces no LSTM loop to
    learn them, when the model is built or rebuilt from its config."""
    from s2s_keras import layers

    calls = []
    for cls in (layers.Encoder, layers.Decoder, layers.AttentionDecoder):
        original = cls.call

        @functools.wraps(original)  # Keras reads call's signature
        def counted(self, *args, original=original, **kwargs):
            calls.append(type(self).__name__)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "call", counted)
    model = build_seq2seq(30, 30, embedding_dim=8, units=8, **config)
    keras.Model.from_config(model.get_config())
    assert calls == []
    model(tiny_batch()[0])  # a real call still runs them
    assert calls
