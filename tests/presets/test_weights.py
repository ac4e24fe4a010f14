"""Compact weight storage: float16 and int8 round trips, and mismatches named."""

import io
import zipfile

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
        ValueError, match="the model needs .* the weights are of another model"
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


def test_a_header_of_the_wrong_shape_is_refused_before_its_data_is_read(tmp_path):
    """An entry whose header claims a 2 TB array: refused from the header."""
    save_weights(model(), tmp_path / "w.npz")
    name = "encoder/embedding/embeddings:float16.npy"
    header = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        header, {"descr": "<f2", "fortran_order": False, "shape": (10**9, 1000)}
    )
    with zipfile.ZipFile(tmp_path / "w.npz") as source:
        entries = {info.filename: source.read(info) for info in source.infolist()}
    entries[name] = header.getvalue() + b"\0" * 64
    with zipfile.ZipFile(tmp_path / "huge.npz", "w", zipfile.ZIP_DEFLATED) as target:
        for entry, data in entries.items():
            target.writestr(entry, data)
    with pytest.raises(ValueError, match=r"huge.npz: .*float16 \(1000000000, 1000\)"):
        load_weights(model(), tmp_path / "huge.npz")


@pytest.mark.parametrize("damage", ["truncated", "flipped", "not a zip"])
def test_a_damaged_file_raises_an_error_naming_it(tmp_path, damage):
    save_weights(model(), tmp_path / "w.npz")
    data = bytearray((tmp_path / "w.npz").read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped":  # inside the first entry's compressed data
        for offset in range(200, 260):
            data[offset] ^= 0xFF
    else:
        data = b"<html>404 Not Found</html>"
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"bad.npz"):
        load_weights(model(), tmp_path / "bad.npz")
