"""TF Serving's JSON values and numpy arrays, both ways, checked against a spec.

Strings are JSON strings (UTF-8), or `{"b64": "..."}` for any bytes; an
output whose name ends in `_bytes` is answered in base64 the same way.
Non-finite floats (not JSON) are answered as `null`. The request and answer
formats built on these values are in `predict.py`.
"""

import base64
import binascii
import dataclasses
import math

import numpy as np

INT32 = (-(2**31), 2**31 - 1)


class RequestError(ValueError):
    """A request the server cannot answer; `status` is its HTTP status (4xx).

    Args:
        message: what is wrong, naming the field and the value received.
        status: the HTTP status to answer with.
    """

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A signature's input or output: its dtype and shape.

    Args:
        dtype: `"string"`, `"int32"`, `"int64"`, `"float32"`, `"float64"` or
            `"bool"`.
        shape: a tuple; `None` for a dimension of any size. The first is the
            batch for a batched tensor; `()` is a scalar.
    """

    dtype: str
    shape: tuple

    @property
    def batched(self):
        return len(self.shape) > 0 and self.shape[0] is None


def to_array(name, value, spec):
    """A JSON value as a numpy array of `spec`'s dtype and shape.

    Args:
        name: the input's name, for the error messages.
        value: nested lists (or a scalar) from the JSON body.
        spec: the input's `TensorSpec`.

    Returns:
        An `np.ndarray`: `object` dtype holding `bytes` for strings.

    Raises:
        RequestError: for a wrong rank, a dimension of the wrong size, a
            ragged list or a value of the wrong type.
    """
    shape = _shape_of(name, value, len(spec.shape))
    if len(shape) != len(spec.shape):
        raise RequestError(
            f"input {name!r} needs {len(spec.shape)} dimension(s) (shape "
            f"{shape_text(spec.shape)}), got {len(shape)}: {_preview(value)}"
        )
    for axis, (size, expected) in enumerate(zip(shape, spec.shape, strict=True)):
        if expected is not None and size != expected:
            raise RequestError(
                f"input {name!r} needs {expected} values along dimension {axis}, got {size}"
            )
    convert = _CONVERTERS[spec.dtype]
    leaves = [convert(name, leaf) for leaf in _leaves(value, len(shape))]
    dtype = object if spec.dtype == "string" else spec.dtype
    return np.array(leaves, dtype=dtype).reshape(shape)


def _shape_of(name, value, rank):
    """The shape of nested lists, looked at `rank` + 1 deep at most."""
    if not isinstance(value, list):
        return ()
    if rank == 0:  # deeper than the input: to_array reports the rank
        return (len(value),)
    inner = [_shape_of(name, item, rank - 1) for item in value]
    if any(shape != inner[0] for shape in inner):
        raise RequestError(f"input {name!r} is ragged: its lists differ in length")
    return (len(value), *(inner[0] if inner else ()))


def _leaves(value, rank):
    if rank == 0:
        yield value
        return
    for item in value:
        yield from _leaves(item, rank - 1)


def _to_bytes(name, value):
    if isinstance(value, bytes):  # a gRPC request's string tensor
        return value
    if isinstance(value, str):
        return value.encode("utf-8", errors="surrogatepass")
    if is_b64(value):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, TypeError) as error:
            raise RequestError(
                f"input {name!r}: bad base64 in {value!r}: {error}"
            ) from None
    raise RequestError(
        f"input {name!r} takes strings, got {value!r} ({kind_of(value)})"
    )


def _to_int(bounds):
    def convert(name, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(
                f"input {name!r} takes integers, got {value!r} ({kind_of(value)})"
            )
        if not bounds[0] <= value <= bounds[1]:
            raise RequestError(
                f"input {name!r}: {value} is out of range {list(bounds)}"
            )
        return value

    return convert


def _to_float(largest):
    def convert(name, value):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RequestError(
                f"input {name!r} takes numbers, got {value!r} ({kind_of(value)})"
            )
        if not math.isfinite(value):  # Python's JSON reads NaN and Infinity
            raise RequestError(f"input {name!r} takes finite numbers, got {value!r}")
        if abs(value) > largest:
            raise RequestError(
                f"input {name!r}: {value!r} is out of range (at most {largest:g} "
                "in size)"
            )
        return value

    return convert


def _to_bool(name, value):
    if not isinstance(value, bool):
        raise RequestError(f"input {name!r} takes true or false, got {value!r}")
    return value


_CONVERTERS = {
    "string": _to_bytes,
    "int32": _to_int(INT32),
    "int64": _to_int((-(2**63), 2**63 - 1)),
    "float32": _to_float(float(np.finfo(np.float32).max)),
    "float64": _to_float(float(np.finfo(np.float64).max)),
    "bool": _to_bool,
}
DTYPES = tuple(_CONVERTERS)


def to_json(name, array):
    """An output array as JSON values: text, `{"b64": ...}` for `*_bytes`, numbers."""
    array = np.asarray(array)
    if array.dtype == object or array.dtype.kind == "S":
        if name.endswith("_bytes"):
            convert = lambda value: {"b64": base64.b64encode(value).decode("ascii")}  # noqa: E731
        else:
            convert = lambda value: value.decode("utf-8", errors="replace")  # noqa: E731
        return _map(convert, array.tolist())
    if array.dtype.kind == "f":
        return _map(
            lambda value: value if math.isfinite(value) else None, array.tolist()
        )
    return array.tolist()


def _map(function, value):
    if isinstance(value, list):
        return [_map(function, item) for item in value]
    return function(value)


def is_b64(value):
    return isinstance(value, dict) and set(value) == {"b64"}


def kind_of(value):
    return {dict: "an object", list: "a list", str: "a string"}.get(
        type(value), type(value).__name__
    )


def shape_text(shape):
    return (
        "("
        + ", ".join(
            "batch" if i == 0 and size is None else ("?" if size is None else str(size))
            for i, size in enumerate(shape)
        )
        + ("," if len(shape) == 1 else "")
        + ")"
    )


def _preview(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
