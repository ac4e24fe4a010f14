"""TF Serving's JSON for `:predict`: request bodies to arrays, arrays to responses.

The REST API (https://www.tensorflow.org/tfx/serving/api_rest) has two
request formats, answered in kind:

- row: `{"instances": [...]}`, one entry per example: a bare value when the
  signature takes one input, else an object of named inputs; answered with
  `{"predictions": [...]}`, one entry per example (a bare value when the
  signature has one output, else an object);
- columnar: `{"inputs": ...}`, a bare value for a one-input signature, else
  an object of named inputs, each batched along its first dimension;
  answered with `{"outputs": ...}` in the same way.

Strings are JSON strings (UTF-8), or `{"b64": "..."}` for any bytes; an
output whose name ends in `_bytes` is answered in base64 the same way.
Non-finite floats (not JSON) are answered as `null`.

Two additions to TF Serving, for signatures with settings: an input the
request leaves out takes its default when the server has one (the export's
decoding settings, `Signature.defaults`), and a scalar input given in every
instance of a row request is taken once if every instance gives the same
value.
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


@dataclasses.dataclass(frozen=True)
class PredictRequest:
    """A parsed `:predict` body.

    Args:
        signature_name: the signature asked for.
        inputs: `{name: np.ndarray}`, every input of the signature.
        rows: the batch size of the batched inputs.
        row_format: whether the body had `"instances"` (else `"inputs"`).
    """

    signature_name: str
    inputs: dict
    rows: int
    row_format: bool


def signature_name_of(body):
    """The `signature_name` of a parsed body ("serving_default" if absent)."""
    if not isinstance(body, dict):
        raise RequestError(
            f"the body must be a JSON object with 'instances' or 'inputs', got {_kind(body)}"
        )
    name = body.get("signature_name", "serving_default")
    if not isinstance(name, str):
        raise RequestError(f"'signature_name' must be a string, got {name!r}")
    return name


def parse_predict(body, inputs, defaults=None):
    """The `PredictRequest` of a parsed JSON body for a signature.

    Args:
        body: the decoded JSON of the request.
        inputs: `{name: TensorSpec}`, the signature's inputs.
        defaults: `{name: value}` for inputs a request may leave out; a
            batched default is one row's value, repeated for every row.

    Returns:
        A `PredictRequest`.

    Raises:
        RequestError: naming what is wrong with the body.
    """
    signature_name = signature_name_of(body)
    defaults = defaults or {}
    unknown = sorted(set(body) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise RequestError(
            f"unknown field(s) {unknown}: a predict request has 'instances' or "
            "'inputs', and optionally 'signature_name'"
        )
    if ("instances" in body) == ("inputs" in body):
        raise RequestError("the body needs exactly one of 'instances' or 'inputs'")
    row_format = "instances" in body
    if row_format:
        columns = _columns_of_instances(body["instances"], inputs, defaults)
    else:
        columns = _named(body["inputs"], "inputs", inputs, defaults)
    arrays = {
        name: to_array(name, value, inputs[name]) for name, value in columns.items()
    }
    rows = _rows(arrays, inputs)
    for name, spec in inputs.items():
        if name not in arrays:
            if name not in defaults:
                raise RequestError(
                    f"missing input {name!r}; the signature takes {_names(inputs)}"
                )
            value = [defaults[name]] * rows if spec.batched else defaults[name]
            arrays[name] = to_array(name, value, spec)
    return PredictRequest(signature_name, arrays, rows, row_format)


def _columns_of_instances(instances, inputs, defaults):
    """`{name: column}` of a row request's instances."""
    if not isinstance(instances, list):
        raise RequestError(f"'instances' must be a list, got {_kind(instances)}")
    if not instances:
        raise RequestError("'instances' is empty: send at least one")
    named = [isinstance(row, dict) and not _is_b64(row) for row in instances]
    if not any(named):
        return {_single_input("instances", inputs, defaults): instances}
    if not all(named):
        raise RequestError(
            "'instances' mixes objects and bare values: use one or the other"
        )
    keys = list(instances[0])
    for index, row in enumerate(instances):
        if set(row) != set(keys):
            raise RequestError(
                f"every instance needs the same inputs: instance 0 has {sorted(keys)}, "
                f"instance {index} has {sorted(row)}"
            )
    _check_known(keys, inputs)
    columns = {}
    for key in keys:
        column = [row[key] for row in instances]
        if not inputs[key].batched:
            if any(value != column[0] for value in column):
                raise RequestError(
                    f"input {key!r} is one value for the whole request: every instance "
                    f"must give the same, got {column[:4]}"
                )
            column = column[0]
        columns[key] = column
    return columns


def _named(value, field, inputs, defaults):
    """`{name: value}` of a columnar request's `inputs`."""
    if isinstance(value, dict) and not _is_b64(value):
        _check_known(list(value), inputs)
        return dict(value)
    return {_single_input(field, inputs, defaults): value}


def _single_input(field, inputs, defaults):
    """The input a bare value is for: the one without a default."""
    required = [name for name in inputs if name not in defaults]
    if len(required) != 1:
        raise RequestError(
            f"this signature takes {_names(inputs)}: give {field!r} as "
            + (
                "objects of named inputs"
                if field == "instances"
                else "an object of named inputs"
            )
        )
    return required[0]


def _check_known(names, inputs):
    unknown = [name for name in names if name not in inputs]
    if unknown:
        raise RequestError(
            f"no input named {unknown[0]!r}; the signature takes {_names(inputs)}"
        )


def _rows(arrays, inputs):
    """The batch size shared by the batched inputs."""
    sizes = {
        name: array.shape[0] for name, array in arrays.items() if inputs[name].batched
    }
    if len(set(sizes.values())) > 1:
        raise RequestError(
            f"the batched inputs differ in their first dimension: {sizes}"
        )
    rows = next(iter(sizes.values()), 1)
    if rows == 0:
        raise RequestError("the request has no rows: send at least one")
    return rows


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
            f"{_shape_text(spec.shape)}), got {len(shape)}: {_preview(value)}"
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
    if isinstance(value, str):
        return value.encode("utf-8", errors="surrogatepass")
    if _is_b64(value):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, TypeError) as error:
            raise RequestError(
                f"input {name!r}: bad base64 in {value!r}: {error}"
            ) from None
    raise RequestError(f"input {name!r} takes strings, got {value!r} ({_kind(value)})")


def _to_int(bounds):
    def convert(name, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(
                f"input {name!r} takes integers, got {value!r} ({_kind(value)})"
            )
        if not bounds[0] <= value <= bounds[1]:
            raise RequestError(
                f"input {name!r}: {value} is out of range {list(bounds)}"
            )
        return value

    return convert


def _to_float(name, value):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(
            f"input {name!r} takes numbers, got {value!r} ({_kind(value)})"
        )
    return value


def _to_bool(name, value):
    if not isinstance(value, bool):
        raise RequestError(f"input {name!r} takes true or false, got {value!r}")
    return value


_CONVERTERS = {
    "string": _to_bytes,
    "int32": _to_int(INT32),
    "int64": _to_int((-(2**63), 2**63 - 1)),
    "float32": _to_float,
    "float64": _to_float,
    "bool": _to_bool,
}
DTYPES = tuple(_CONVERTERS)


def format_predict(outputs, row_format):
    """The JSON answer of a `:predict` request.

    Args:
        outputs: `{name: np.ndarray}`, the signature's outputs for the
            request's rows (every output batched).
        row_format: whether the request had `"instances"`.

    Returns:
        `{"predictions": [...]}` or `{"outputs": ...}`.
    """
    values = {name: to_json(name, array) for name, array in outputs.items()}
    if not row_format:
        return {"outputs": _unnamed(values)}
    rows = len(next(iter(values.values())))
    predictions = [
        _unnamed({name: value[row] for name, value in values.items()})
        for row in range(rows)
    ]
    return {"predictions": predictions}


def _unnamed(values):
    """A one-output answer is its value; more are an object."""
    return next(iter(values.values())) if len(values) == 1 else values


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


def _is_b64(value):
    return isinstance(value, dict) and set(value) == {"b64"}


def _kind(value):
    return {dict: "an object", list: "a list", str: "a string"}.get(
        type(value), type(value).__name__
    )


def _names(inputs):
    return ", ".join(
        f"{name} {_shape_text(spec.shape)} {spec.dtype}"
        for name, spec in inputs.items()
    )


def _shape_text(shape):
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
