"""TF Serving's `:predict` bodies: requests to arrays, arrays to answers.

The REST API (https://www.tensorflow.org/tfx/serving/api_rest) has two
request formats, answered in kind:

- row: `{"instances": [...]}`, one entry per example: a bare value when the
  signature takes one input, else an object of named inputs; answered with
  `{"predictions": [...]}`, one entry per example (a bare value when the
  signature has one output, else an object);
- columnar: `{"inputs": ...}`, a bare value for a one-input signature, else
  an object of named inputs, each batched along its first dimension;
  answered with `{"outputs": ...}` in the same way.

Each value is read and written by `tensors.py` (strings, `{"b64": ...}`,
numbers, checked against the signature's spec).

Two additions to TF Serving, for signatures with settings: an input the
request leaves out takes its default when the server has one (the export's
decoding settings, `Signature.defaults`), and a scalar input given in every
instance of a row request is taken once if every instance gives the same
value.
"""

import dataclasses

from s2s_keras.serve.tensors import RequestError
from s2s_keras.serve.tensors import is_b64
from s2s_keras.serve.tensors import kind_of
from s2s_keras.serve.tensors import shape_text
from s2s_keras.serve.tensors import to_array
from s2s_keras.serve.tensors import to_json


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
            f"the body must be a JSON object with 'instances' or 'inputs', got {kind_of(body)}"
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
        raise RequestError(f"'instances' must be a list, got {kind_of(instances)}")
    if not instances:
        raise RequestError("'instances' is empty: send at least one")
    named = [isinstance(row, dict) and not is_b64(row) for row in instances]
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
    if isinstance(value, dict) and not is_b64(value):
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


def _names(inputs):
    return ", ".join(
        f"{name} {shape_text(spec.shape)} {spec.dtype}" for name, spec in inputs.items()
    )
