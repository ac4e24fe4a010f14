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
stored model's own.
"""

import numpy as np

from s2s_keras.atomic_files import atomic_write
from s2s_keras.checks import check_choice

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
        ValueError: the file lacks a variable of the model, holds one the
            model does not have, or a shape differs.
    """
    with np.load(path) as stored:
        names = set(stored.files)
        for variable in model.weights:
            value = _stored_value(stored, names, variable.path, path)
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"{path}: {variable.path} has shape {value.shape}, the model's "
                    f"{tuple(variable.shape)}: the weights are of another model"
                )
            variable.assign(value.astype(variable.dtype))
    if names:
        raise ValueError(
            f"{path} holds weights the model does not have: {sorted(names)[:5]}"
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
