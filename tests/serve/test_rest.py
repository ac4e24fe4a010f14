"""The REST API against TF Serving's documented requests and answers.

https://www.tensorflow.org/tfx/serving/api_rest: model status, metadata,
predict in row ("instances" -> "predictions") and columnar ("inputs" ->
"outputs") format, errors as {"error": ...}.
"""

import json

import numpy as np
import pytest
import tensorflow as tf
from starlette.testclient import TestClient

from s2s_keras.serve import create_app
from tests.serve.conftest import held_servable

TEXTS = ["the encoder reads the source", "attention looks back", ""]


@pytest.fixture(scope="module")
def client(servable):
    app = create_app(
        servable, "beam", max_body_bytes=4096, max_batch_size=2, max_rows=6
    )
    with TestClient(app) as client:
        yield client


def direct(servable, signature, **inputs):
    """The SavedModel's own answer, called without the server."""
    tensors = {key: tf.constant(value) for key, value in inputs.items()}
    outputs = servable.loaded.signatures[signature](**tensors)
    return {key: value.numpy() for key, value in outputs.items()}


def test_model_status(client):
    for url in ("/v1/models/beam", "/v1/models/beam/versions/1"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.json() == {
            "model_version_status": [
                {
                    "version": "1",
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }


def test_metadata_lists_the_signatures_as_tf_serving_does(client):
    answer = client.get("/v1/models/beam/metadata").json()
    assert answer["model_spec"] == {
        "name": "beam",
        "signature_name": "",
        "version": "1",
    }
    signatures = answer["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "generate", "score", "attention"} <= set(signatures)
    text = signatures["serving_default"]["inputs"]["text"]
    assert text["dtype"] == "DT_STRING"
    assert text["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}],
        "unknown_rank": False,
    }
    assert signatures["serving_default"]["method_name"] == "tensorflow/serving/predict"
    assert set(signatures["generate"]["outputs"]) == {
        "text",
        "scores",
        "n_best",
        "n_best_scores",
    }


def test_predict_row_format_answers_as_the_saved_model(client, servable):
    response = client.post("/v1/models/beam:predict", json={"instances": TEXTS})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    expected = direct(servable, "serving_default", text=TEXTS)
    assert [row["text"] for row in predictions] == [
        t.decode() for t in expected["text"]
    ]
    np.testing.assert_allclose(
        [row["scores"] for row in predictions], expected["scores"], rtol=1e-5
    )


def test_predict_columnar_format_with_a_signature_and_settings(client, servable):
    body = {
        "signature_name": "generate",
        "inputs": {"text": TEXTS[:2], "max_length": 3, "length_penalty": 0.0},
    }
    outputs = client.post("/v1/models/beam/versions/1:predict", json=body).json()[
        "outputs"
    ]
    settings = json.loads((servable.directory / "export.json").read_text())["generator"]
    expected = direct(
        servable,
        "generate",
        text=TEXTS[:2],
        target_prefix=["", ""],
        max_length=3,
        min_length=settings["min_length"],
        no_repeat_ngram_size=settings["no_repeat_ngram_size"],
        repetition_penalty=settings["repetition_penalty"],
        length_penalty=0.0,
        coverage_penalty=settings["coverage_penalty"],
    )
    assert outputs["text"] == [t.decode() for t in expected["text"]]
    assert outputs["n_best"] == [
        [t.decode() for t in row] for row in expected["n_best"]
    ]
    assert np.shape(outputs["n_best_scores"]) == (2, 3)  # the beam's 3 best
    assert all(len(text.split()) <= 3 for row in outputs["n_best"] for text in row)


def test_score_and_attention_signatures(client, servable):
    body = {
        "signature_name": "score",
        "instances": [{"source": TEXTS[0], "target": "the source"}],
    }
    (row,) = client.post("/v1/models/beam:predict", json=body).json()["predictions"]
    expected = direct(servable, "score", source=[TEXTS[0]], target=["the source"])
    assert row["log_likelihood"] == pytest.approx(
        float(expected["log_likelihood"][0]), rel=1e-5
    )
    body = {"signature_name": "attention", "inputs": [TEXTS[0]]}
    outputs = client.post("/v1/models/beam:predict", json=body).json()["outputs"]
    weights = np.array(outputs["weights"][0])  # (T, S)
    real = [token != "" for token in outputs["source_tokens"][0]]
    rows = [token != "" for token in outputs["output_tokens"][0]]
    np.testing.assert_allclose(weights[rows][:, real].sum(axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize(
    "content, status, match",
    [
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe\x00", 400, "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, 413, "at most"),
        (json.dumps({"instances": [7]}).encode(), 400, "takes strings, got 7"),
        (json.dumps({"instance": ["a"]}).encode(), 400, "unknown field"),
        (
            json.dumps({"signature_name": "nope", "instances": ["a"]}).encode(),
            400,
            "'nope' not found",
        ),
        (json.dumps({"inputs": {"text": ["a" * 5000]}}).encode(), 413, "at most"),
        (b"[" * 2000 + b"]" * 2000, 400, "not valid JSON|JSON object"),
    ],
)
def test_bad_requests_get_a_json_error_and_the_server_keeps_serving(
    client, content, status, match
):
    response = client.post("/v1/models/beam:predict", content=content)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] and __import__("re").search(
        match, response.json()["error"]
    )
    assert (
        client.post("/v1/models/beam:predict", json={"instances": ["a"]}).status_code
        == 200
    )


@pytest.mark.parametrize(
    "method, url, status, match",
    [
        ("get", "/v1/models/other", 404, r"Latest\(other\)"),
        ("get", "/v1/models/beam/versions/2", 404, r"Specific\(beam, 2\)"),
        ("post", "/v1/models/other:predict", 404, r"Latest\(other\)"),
        ("post", "/v1/models/beam:classify", 400, ":predict only"),
        ("post", "/v1/models/beam:explode", 404, "no such endpoint"),
        ("get", "/v1/models/beam:predict", 405, "takes POST"),
        ("get", "/nowhere", 404, "Not Found"),
        ("delete", "/v1/models/beam", 405, "Method Not Allowed"),
    ],
)
def test_wrong_paths_and_methods_get_a_json_error(client, method, url, status, match):
    kwargs = {"json": {"instances": ["a"]}} if method == "post" else {}
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status
    assert __import__("re").search(match, response.json()["error"])


def test_the_page_names_the_model_and_calls_the_api(client):
    response = client.get("/")
    assert (
        response.status_code == 200 and "text/html" in response.headers["content-type"]
    )
    assert 'data-model="beam"' in response.text and ":predict" in response.text


@pytest.mark.parametrize("name", ["", "a/b", "<script>", "a b", 7])
def test_a_bad_model_name_raises(servable, name):
    with pytest.raises(ValueError, match="model name"):
        create_app(servable, name)


@pytest.mark.parametrize(
    "settings, match",
    [
        (
            {"repetition_penalty": 0.0},
            r"repetition_penalty must be finite and > 0\. "
            r"Received: repetition_penalty = 0",
        ),
        (
            {"max_length": 100000},
            r"max_length must be in 1\.\.\d+ .*Received: max_length = 100000",
        ),
        ({"min_length": 9, "max_length": 4}, "min_length must be in 0..max_length"),
        ({"length_penalty": -1.0}, "length_penalty must be finite and >= 0"),
    ],
)
def test_a_setting_out_of_range_is_answered_400_naming_it(client, settings, match):
    response = client.post(
        "/v1/models/beam:predict",
        json={"signature_name": "generate", "inputs": {"text": ["a"], **settings}},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert __import__("re").search(match, error), error
    assert "[[" not in error and "node" not in error  # no graph internals


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_json_numbers_are_refused(client, literal):
    body = (
        b'{"signature_name": "generate", "inputs": {"text": ["a"], '
        b'"repetition_penalty": ' + literal + b"}}"
    )
    response = client.post("/v1/models/beam:predict", content=body)
    assert response.status_code == 400
    assert "takes finite numbers" in response.json()["error"]


def test_more_rows_than_max_rows_are_answered_413_naming_the_limit(client):
    response = client.post("/v1/models/beam:predict", json={"instances": ["a"] * 7})
    assert response.status_code == 413
    assert (
        "7 rows" in response.json()["error"] and "6 at most" in response.json()["error"]
    )


@pytest.mark.parametrize("signature", ["serving_default", "tokenize", "attention"])
def test_a_request_over_max_batch_size_answers_as_one_call(client, servable, signature):
    """5 rows at max_batch_size 2: three calls, joined as one call's answer."""
    texts = ["a b c d e f", "", "the encoder", "x", "attention looks back at"]
    response = client.post(
        "/v1/models/beam:predict",
        json={"signature_name": signature, "inputs": {"text": texts}},
    )
    assert response.status_code == 200
    outputs = response.json()["outputs"]
    expected = direct(servable, signature, text=texts)
    for name, value in expected.items():
        got = np.array(outputs[name] if isinstance(outputs, dict) else outputs)
        if value.dtype == object:
            value = np.vectorize(lambda b: b.decode("utf-8", "replace"))(value)
            assert got.tolist() == value.tolist(), name
        else:
            np.testing.assert_allclose(got, value, atol=1e-5, err_msg=name)


def test_a_fault_is_answered_500_with_a_request_id_and_logged(servable, caplog):
    class Broken:
        """A signature whose call fails as a bug in the server would."""

        name = "serving_default"
        batchable = True
        inputs = servable.signature("serving_default").inputs
        defaults = {}
        max_length = None

        def length_asked(self, inputs):
            return 1

        def __call__(self, inputs):
            raise KeyError("secret internal detail")

    class BrokenServable:
        signatures = {"serving_default": Broken()}
        signature_defs = servable.signature_defs

        def signature(self, name):
            return self.signatures[name]

    app = create_app(BrokenServable(), "beam")
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/models/beam:predict", json={"instances": ["a"]})
    assert response.status_code == 500
    error = response.json()["error"]
    request_id = response.headers["x-request-id"]
    assert request_id in error and "secret" not in error and "KeyError" not in error
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and "secret internal detail" in str(logged[0].exc_info[1])


def test_a_request_asking_for_too_many_output_tokens_is_answered_413(servable):
    """rows x max_length over --max-output-tokens: 413 naming the limit; a
    request within it is split by cost, k rows a call for k times the length."""
    assert servable.signature("generate").max_length == 10  # the export's
    app = create_app(servable, "beam", max_batch_size=4, max_output_tokens=60)
    inputs = {"text": ["a b c"] * 5, "max_length": 15}  # 75 tokens
    with TestClient(app) as client:
        response = client.post(
            "/v1/models/beam:predict",
            json={"signature_name": "generate", "inputs": inputs},
        )
        assert response.status_code == 413
        assert "--max-output-tokens" in response.json()["error"]
        assert "75" in response.json()["error"] and "60" in response.json()["error"]
        inputs["text"] = inputs["text"][:4]  # 60 tokens
        calls = app.state.batcher.calls
        response = client.post(
            "/v1/models/beam:predict",
            json={"signature_name": "generate", "inputs": inputs},
        )
        assert response.status_code == 200
        assert len(response.json()["outputs"]["text"]) == 4
        # 15 is twice the export's 10 (rounded up): each row counts twice,
        # so a call of max_batch_size 4 holds 2 of them.
        assert app.state.batcher.calls - calls == 2


def test_too_much_work_waiting_is_answered_429_with_retry_after(servable):
    """A request that would bring the waiting output tokens past the limit,
    while another is held running and one waits: 429, and the rest answered."""
    import threading

    gate = threading.Event()

    # Each row asks for the export's 10 tokens: 2 rows wait (20), 2 more pass 30.
    app = create_app(held_servable(servable, gate), "beam", max_queued_tokens=30)
    answers = {}
    with TestClient(app) as client:

        def post(key, rows):
            answers[key] = client.post(
                "/v1/models/beam:predict", json={"instances": ["a b"] * rows}
            )

        running = threading.Thread(target=post, args=("running", 1))
        running.start()
        waited = 0
        while app.state.batcher.calls == 0:  # the first call is held
            threading.Event().wait(0.01)
            waited += 1
            assert waited < 3000, "the first request never reached the model"
        waiting = threading.Thread(target=post, args=("waiting", 2))
        waiting.start()
        while app.state.batcher.queued_tokens() < 20:
            threading.Event().wait(0.01)
            waited += 1
            assert waited < 6000, "the second request never waited"
        try:
            post("refused", 2)
        finally:
            gate.set()
        running.join(30)
        waiting.join(30)
    assert answers["refused"].status_code == 429
    assert answers["refused"].headers["retry-after"]
    assert "--max-queued-tokens" in answers["refused"].json()["error"]
    assert answers["running"].status_code == answers["waiting"].status_code == 200
