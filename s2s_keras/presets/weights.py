"""A preset's weights, stored compactly: float16, or int8 with one scale per channel.

A model's weights are written as one compressed `.npz` file, one entry per
variable, keyed by its path (`"encoder/embedding/embeddings"`), without the
optimizer's state:

- `"float16"`: every float variable in float16 (half the float32 size; a
  relative rounding error under 1e-3);
- `"int8"`: every float matrix as int8 with a float32 scale for each index of
  its longer axis (a row of an embedding, an output channel of a kernel),
  the rest in float16 (a quarter of the float32 size).

Loading turns them back into float32 in a model built from the same config:
the stored values are what the preset computes with, so its scores are the
stored model's own. Before any array is read, every entry's header (its
shape and dtype) is checked against the model, so a file of another model,
or one made to be large, costs nothing; a damaged file raises a
`ValueError` that names it.
"""

import zipfile
import zlib

import numpy as np

from s2s_keras.utils.atomic_files import atomic_write
from s2s_keras.utils.checks import check_choice

STORAGES = ("float16", "int8")


def save_weights(model, path, storage="float16"):
    """Writes `model`'s weights to `path` (an `.npz`), in `storage`.

    Args:
        model: a built Keras model.
        path: the file to write (replaced atomically).
        storage: `"float16"` or `"int8"`.
    """
    check_choice("storage", storage, STORAGES)
    arrays = {}
    for variable in model.weights:
        value = np.asarray(variable.numpy())
        key = variable.path
        if key in {name.rsplit(":", 1)[0] for name in arrays}:
            raise ValueError(f"Two variables share the path {key!r}")
        if value.dtype.kind != "f":
            arrays[f"{key}:raw"] = value
        elif storage == "int8" and value.ndim >= 2:
            quantized, scale = _quantize(value.astype(np.float32))
            arrays[f"{key}:int8"] = quantized
            arrays[f"{key}:scale"] = scale
        else:
            arrays[f"{key}:float16"] = value.astype(np.float16)
    with atomic_write(path, "wb") as file:
        np.savez_compressed(file, **arrays)


def load_weights(model, path):
    """Sets `model`'s weights from a file of `save_weights`, in float32.

    Raises:
        ValueError: the file is damaged (not a zip of `.npy` entries, a bad
            checksum, an entry cut short), lacks a variable of the model,
            holds one the model does not have, or an entry's shape or dtype
            differs from the model's; each message names the file.
    """
    try:
        _check_headers(model, path)
        with np.load(path, allow_pickle=False) as stored:
            names = set(stored.files)
            for variable in model.weights:
                value = _stored_value(stored, names, variable.path, path)
                variable.assign(value.astype(variable.dtype))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise ValueError(
            f"{path} is damaged ({type(error).__name__}: {error}); get the preset again"
        ) from None
    if names:
        raise ValueError(
            f"{path} holds weights the model does not have: {sorted(names)[:5]}"
        )


def _expected_headers(model):
    """`{entry: (shape, dtypes)}` for each entry a file of `model` may hold."""
    expected = {}
    for variable in model.weights:
        shape = tuple(variable.shape)
        key = variable.path
        dtype = np.dtype(variable.dtype)
        if dtype.kind != "f":
            expected[f"{key}:raw"] = (shape, {dtype})
            continue
        expected[f"{key}:float16"] = (shape, {np.dtype(np.float16)})
        if len(shape) >= 2:
            axis = _scale_axis(shape)
            scale = tuple(size if i == axis else 1 for i, size in enumerate(shape))
            expected[f"{key}:int8"] = (shape, {np.dtype(np.int8)})
            expected[f"{key}:scale"] = (scale, {np.dtype(np.float32)})
    return expected


def _check_headers(model, path):
    """Every entry's shape and dtype, read from its header, against the model."""
    expected = _expected_headers(model)
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if name not in expected:
                raise ValueError(
                    f"{path} holds weights the model does not have: [{name!r}]"
                )
            with archive.open(info) as entry:
                version = np.lib.format.read_magic(entry)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(entry)
            shape_expected, dtypes = expected[name]
            if tuple(shape) != shape_expected or dtype not in dtypes:
                raise ValueError(
                    f"{path}: {name} is {dtype} {tuple(shape)}, the model needs "
                    f"{' or '.join(map(str, dtypes))} {shape_expected}: the weights "
                    "are of another model"
                )


def _stored_value(stored, names, key, path):
    for kind in ("float16", "raw", "int8"):
        name = f"{key}:{kind}"
        if name in names:
            names.discard(name)
            if kind != "int8":
                return (
                    stored[name].astype(np.float32)
                    if kind == "float16"
                    else stored[name]
                )
            names.discard(f"{key}:scale")
            return _dequantize(stored[name], stored[f"{key}:scale"])
    raise ValueError(
        f"{path} has no weights for {key}: the weights are of another model"
    )


def _scale_axis(shape):
    """The axis with a scale per index: the longer one (the last on a tie)."""
    longest = max(shape)
    return max(axis for axis, size in enumerate(shape) if size == longest)


def _quantize(value):
    """int8 values and their float32 scales, one per index of the longer axis."""
    axis = _scale_axis(value.shape)
    others = tuple(i for i in range(value.ndim) if i != axis)
    scale = np.abs(value).max(axis=others, keepdims=True) / 127.0
    scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
    return np.clip(np.round(value / scale), -127, 127).astype(np.int8), scale


def _dequantize(quantized, scale):
    return quantized.astype(np.float32) * scale
