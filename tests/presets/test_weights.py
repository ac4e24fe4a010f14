"""Compact weight storage: float16 and int8 round trips, and mismatches named."""

import keras
import numpy as np
import pytest

from s2s_keras import build_seq2seq
from s2s_keras.presets.weights import load_weights
from s2s_keras.presets.weights import save_weights


def model(units=16, vocab_size=50):
    built = build_seq2seq(vocab_size, vocab_size, 8, units, attention="dot")
    rng = np.random.default_rng(0)
    for weight in built.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    return built


@pytest.mark.parametrize("storage, tolerance", [("float16", 1e-3), ("int8", 1.5e-2)])
def test_weights_come_back_close_in_float32(tmp_path, storage, tolerance):
    original = model()
    save_weights(original, tmp_path / "w.npz", storage)
    restored = model()
    for weight in restored.weights:
        weight.assign(np.zeros(weight.shape, "float32"))
    load_weights(restored, tmp_path / "w.npz")
    for before, after in zip(original.weights, restored.weights, strict=True):
        after = keras.ops.convert_to_numpy(after)
        assert after.dtype == np.float32
        before = keras.ops.convert_to_numpy(before)
        # Relative to each tensor's largest value (int8 scales per channel).
        error = np.abs(after - before).max() / np.abs(before).max()
        assert error < tolerance


def test_int8_is_smaller_than_float16(tmp_path):
    original = model(units=64, vocab_size=400)
    save_weights(original, tmp_path / "f16.npz", "float16")
    save_weights(original, tmp_path / "i8.npz", "int8")
    assert (tmp_path / "i8.npz").stat().st_size < 0.6 * (
        tmp_path / "f16.npz"
    ).stat().st_size
    assert (tmp_path / "f16.npz").stat().st_mode & 0o777 == 0o644


def test_weights_of_another_model_are_refused(tmp_path):
    save_weights(model(units=16), tmp_path / "w.npz")
    with pytest.raises(
        ValueError, match="has shape .* the weights are of another model"
    ):
        load_weights(model(units=32), tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as stored:
        arrays = dict(stored)
    np.savez(tmp_path / "more.npz", **arrays, **{"extra/kernel:float16": np.zeros(2)})
    with pytest.raises(
        ValueError, match=r"holds weights the model does not have: \['extra"
    ):
        load_weights(model(units=16), tmp_path / "more.npz")
    del arrays["encoder/embedding/embeddings:float16"]
    np.savez(tmp_path / "less.npz", **arrays)
    with pytest.raises(ValueError, match="no weights for encoder/embedding/embeddings"):
        load_weights(model(units=16), tmp_path / "less.npz")


def test_a_bad_storage_raises(tmp_path):
    with pytest.raises(ValueError, match="storage"):
        save_weights(model(), tmp_path / "w.npz", "int4")
