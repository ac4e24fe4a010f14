import keras
import numpy as np
import pytest

from s2s_keras import build_seq2seq
from s2s_keras.losses import SmoothedSparseCrossentropy
from s2s_keras.losses import sparse_nll_from_log_probs
from s2s_keras.models import compile_seq2seq
from tests.test_case import assert_allclose
from tests.test_models import tiny_batch

VOCAB = 7


def masked_logits(seed=0):
    """Random logits (2, 4, VOCAB) whose last two steps of row 1 are padding."""
    rng = np.random.default_rng(seed)
    logits = keras.ops.convert_to_tensor(rng.normal(size=(2, 4, VOCAB)), "float32")
    mask = keras.ops.convert_to_tensor([[1, 1, 1, 1], [1, 1, 0, 0]], "bool")
    logits._keras_mask = mask  # what Keras losses read, as a decoder leaves it
    labels = np.array([[1, 2, 3, 4], [5, 6, 0, 0]], "int32")
    return logits, labels


def test_without_smoothing_it_is_keras_sparse_crossentropy():
    logits, labels = masked_logits()
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert_allclose(
        SmoothedSparseCrossentropy()(labels, logits),
        expected(labels, logits),
        rtol=1e-6,
    )


@pytest.mark.parametrize("smoothing", [0.1, 0.5])
def test_smoothing_is_keras_categorical_crossentropy_with_label_smoothing(smoothing):
    logits, labels = masked_logits()
    onehot = keras.ops.one_hot(labels, VOCAB)
    expected = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=smoothing
    )(onehot, logits)
    got = SmoothedSparseCrossentropy(smoothing)(labels, logits)
    assert_allclose(got, expected, rtol=1e-6)
    # and it is not the unsmoothed loss
    assert abs(float(got) - float(SmoothedSparseCrossentropy()(labels, logits))) > 1e-3


def test_padding_costs_nothing():
    logits, labels = masked_logits()
    loss = SmoothedSparseCrossentropy(0.1)
    changed = keras.ops.convert_to_numpy(logits).copy()
    changed[1, 2:] = 50.0  # only the padded steps
    changed = keras.ops.convert_to_tensor(changed)
    changed._keras_mask = logits._keras_mask
    assert_allclose(loss(labels, changed), loss(labels, logits), rtol=1e-6)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2.0])
def test_bad_smoothing_raises_with_the_value(bad):
    with pytest.raises(ValueError, match=f"label_smoothing.*{bad}"):
        SmoothedSparseCrossentropy(bad)


def test_compiled_model_trains_saves_and_reloads_with_its_smoothing(tmp_path):
    model = build_seq2seq(20, 30, embedding_dim=4, units=8)
    compile_seq2seq(model, 1e-2, label_smoothing=0.2)
    inputs, labels = tiny_batch()
    history = model.fit(inputs, labels, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    # the cross_entropy metric is never smoothed: it is below the loss
    assert history["cross_entropy"][-1] < history["loss"][-1]
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded.loss, SmoothedSparseCrossentropy)
    assert reloaded.loss.label_smoothing == 0.2


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_from_log_probs_reads_log_probabilities_without_a_log_softmax(smoothing):
    """The copy decoder's log-probabilities give the loss their logits would."""
    logits, labels = masked_logits(seed=3)
    log_probs = keras.ops.log_softmax(logits, axis=-1)
    log_probs._keras_mask = logits._keras_mask
    expected = SmoothedSparseCrossentropy(smoothing)(labels, logits)
    got = SmoothedSparseCrossentropy(smoothing, from_log_probs=True)(labels, log_probs)
    assert_allclose(got, expected, rtol=1e-6)
    # It is a gather: logits that are not log-probabilities give another loss.
    raw = SmoothedSparseCrossentropy(smoothing, from_log_probs=True)(labels, logits)
    assert abs(float(raw) - float(expected)) > 1e-2
    assert_allclose(
        sparse_nll_from_log_probs(labels, log_probs),
        keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True),
        rtol=1e-6,
    )


def test_a_copy_model_compiles_with_the_log_probability_loss_and_reloads(tmp_path):
    model = build_seq2seq(20, 20, embedding_dim=4, units=8, copy=True)
    compile_seq2seq(model, 1e-2, label_smoothing=0.1)
    assert model.loss.from_log_probs
    plain = build_seq2seq(20, 20, embedding_dim=4, units=8)
    assert not compile_seq2seq(plain).loss.from_log_probs
    inputs, labels = tiny_batch()
    history = model.fit(inputs, labels, epochs=2, verbose=0).history
    log_probs = model(inputs)
    expected = keras.metrics.SparseCategoricalCrossentropy(from_logits=True)
    expected.update_state(labels, log_probs)
    scores = model.evaluate(inputs, labels, verbose=0, return_dict=True)
    assert_allclose(scores["cross_entropy"], expected.result(), rtol=1e-5)
    assert history["cross_entropy"][-1] != history["loss"][-1]  # never smoothed
    path = tmp_path / "copy.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.loss.from_log_probs and reloaded.loss.label_smoothing == 0.1
    again = reloaded.evaluate(inputs, labels, verbose=0, return_dict=True)
    assert_allclose(again["cross_entropy"], scores["cross_entropy"], rtol=1e-6)
