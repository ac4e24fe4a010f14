"""TF Serving's `:predict` bodies and their values: requests to arrays, arrays to answers."""

import base64

import numpy as np
import pytest

from s2s_keras.serve.predict import format_predict
from s2s_keras.serve.predict import parse_predict
from s2s_keras.serve.tensors import RequestError
from s2s_keras.serve.tensors import TensorSpec

TEXT = {"text": TensorSpec("string", (None,))}
GENERATE = {
    "text": TensorSpec("string", (None,)),
    "target_prefix": TensorSpec("string", (None,)),
    "max_length": TensorSpec("int32", ()),
    "length_penalty": TensorSpec("float32", ()),
}
DEFAULTS = {"target_prefix": "", "max_length": 24, "length_penalty": 1.0}
IDS = {"source_ids": TensorSpec("int32", (None, None))}


def test_row_format_with_one_input_takes_bare_values():
    request = parse_predict({"instances": ["a b", "c"]}, TEXT)
    assert request.signature_name == "serving_default" and request.row_format
    assert request.rows == 2 and request.inputs["text"].tolist() == [b"a b", b"c"]


def test_columnar_format_with_named_inputs_and_defaults():
    body = {
        "signature_name": "generate",
        "inputs": {"text": ["x", "y"], "max_length": 5},
    }
    request = parse_predict(body, GENERATE, DEFAULTS)
    assert request.signature_name == "generate" and not request.row_format
    assert request.inputs["max_length"].dtype == np.int32
    assert request.inputs["max_length"].item() == 5
    assert request.inputs["target_prefix"].tolist() == [b"", b""]  # a default per row
    assert request.inputs["length_penalty"].item() == 1.0


def test_a_bare_value_goes_to_the_one_input_without_a_default():
    request = parse_predict({"inputs": ["x"]}, GENERATE, DEFAULTS)
    assert request.inputs["text"].tolist() == [b"x"] and request.rows == 1
    request = parse_predict({"instances": ["x", "y", "z"]}, GENERATE, DEFAULTS)
    assert request.rows == 3 and request.inputs["target_prefix"].shape == (3,)


def test_row_format_objects_and_a_scalar_given_once_per_instance():
    body = {
        "instances": [{"text": "a", "max_length": 3}, {"text": "b", "max_length": 3}]
    }
    request = parse_predict(body, GENERATE, DEFAULTS)
    assert request.inputs["max_length"].item() == 3 and request.rows == 2
    body["instances"][1]["max_length"] = 4
    with pytest.raises(RequestError, match="'max_length' is one value .* same"):
        parse_predict(body, GENERATE, DEFAULTS)


def test_two_dimensional_integer_inputs_and_b64_strings():
    request = parse_predict({"instances": [[1, 2, 3], [4, 5, 0]]}, IDS)
    assert request.inputs["source_ids"].dtype == np.int32
    assert request.inputs["source_ids"].shape == (2, 3)
    encoded = base64.b64encode(b"\xff bytes").decode()
    request = parse_predict({"instances": [{"b64": encoded}]}, TEXT)
    assert request.inputs["text"].tolist() == [b"\xff bytes"]


@pytest.mark.parametrize(
    "body, match",
    [
        ([1, 2], "JSON object"),
        ({"instances": ["a"], "inputs": ["a"]}, "exactly one of"),
        ({}, "exactly one of"),
        ({"instances": ["a"], "extra": 1}, r"unknown field\(s\) \['extra'\]"),
        ({"instances": "a"}, "'instances' must be a list, got a string"),
        ({"instances": []}, "'instances' is empty"),
        ({"instances": [3]}, r"'text' takes strings, got 3 \(int\)"),
        ({"instances": [None]}, "'text' takes strings, got None"),
        ({"instances": [["a"]]}, r"'text' needs 1 dimension\(s\)"),
        ({"inputs": {"txt": ["a"]}}, "no input named 'txt'"),
        ({"inputs": {"text": []}}, "no rows"),
        ({"instances": [{"b64": "@@not base64"}]}, "bad base64"),
        ({"instances": ["a", {"text": "b"}]}, "mixes objects and bare values"),
        (
            {"signature_name": 3, "instances": ["a"]},
            "'signature_name' must be a string",
        ),
    ],
)
def test_bad_bodies_name_the_problem(body, match):
    with pytest.raises(RequestError, match=match) as raised:
        parse_predict(body, TEXT)
    assert raised.value.status == 400


@pytest.mark.parametrize(
    "body, match",
    [
        ({"instances": [[1, 2], [3]]}, "ragged"),
        ({"instances": [[1, 2.5]]}, r"takes integers, got 2.5 \(float\)"),
        ({"instances": [[True]]}, "takes integers, got True"),
        ({"instances": [[2**31]]}, "out of range"),
        ({"instances": [[[[[[1]]]]]]}, r"needs 2 dimension\(s\)"),
    ],
)
def test_bad_integer_inputs_name_the_problem(body, match):
    with pytest.raises(RequestError, match=match):
        parse_predict(body, IDS)


def test_missing_inputs_without_defaults_and_differing_batches_are_refused():
    with pytest.raises(RequestError, match="missing input 'text'"):
        parse_predict({"inputs": {"max_length": 3}}, GENERATE, DEFAULTS)
    with pytest.raises(RequestError, match="differ in their first dimension"):
        parse_predict(
            {"inputs": {"text": ["a"], "target_prefix": ["b", "c"]}}, GENERATE, DEFAULTS
        )
    with pytest.raises(RequestError, match="takes numbers"):
        parse_predict(
            {"inputs": {"text": ["a"], "length_penalty": "1"}}, GENERATE, DEFAULTS
        )
    with pytest.raises(RequestError, match="give 'inputs' as an object"):
        parse_predict({"inputs": ["a"]}, GENERATE)  # no defaults: two inputs need names


def test_answers_in_row_and_columnar_format():
    outputs = {
        "text": np.array([b"one", b"two \xff"], dtype=object),
        "scores": np.array([-1.5, np.nan], dtype=np.float32),
        "n_best": np.array([[b"a", b"b"], [b"c", b"d"]], dtype=object),
    }
    rows = format_predict(outputs, row_format=True)
    assert rows == {
        "predictions": [
            {"text": "one", "scores": -1.5, "n_best": ["a", "b"]},
            {"text": "two \ufffd", "scores": None, "n_best": ["c", "d"]},
        ]
    }
    columns = format_predict(outputs, row_format=False)
    assert columns["outputs"]["text"] == ["one", "two \ufffd"]
    assert columns["outputs"]["n_best"] == [["a", "b"], ["c", "d"]]
    # One output: its values stand alone; *_bytes outputs are base64.
    single = {"raw_bytes": np.array([b"\x00\xff"], dtype=object)}
    assert format_predict(single, row_format=True) == {"predictions": [{"b64": "AP8="}]}
    assert format_predict(single, row_format=False) == {"outputs": [{"b64": "AP8="}]}
