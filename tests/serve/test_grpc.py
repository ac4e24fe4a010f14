"""TF Serving's gRPC API, spoken to by the official client stubs over loopback."""

import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from s2s_keras.serve import create_app
from s2s_keras.serve.predict import parse_predict
from tests.serve.conftest import LiveServer
from tests.serve.conftest import held_servable
from tests.serve.test_rest import TEXTS
from tests.serve.test_rest import direct


def serve(servable, **limits):
    """A `LiveServer` of `servable` as "beam", gRPC on a free port."""
    return LiveServer(create_app(servable, "beam", grpc_port=0, **limits))


def channel_of(server):
    port = server.app.state.grpc_server.port
    return grpc.insecure_channel(f"127.0.0.1:{port}")


@pytest.fixture(scope="module")
def channel(servable):
    with serve(servable, max_rows=6) as server, channel_of(server) as channel:
        yield channel


def predict_request(signature="", model="beam", **inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def test_predict_answers_as_the_saved_model(channel, servable):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    response = stub.Predict(predict_request(text=TEXTS), timeout=30)
    expected = direct(servable, "serving_default", text=TEXTS)
    assert response.model_spec.name == "beam"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    assert set(response.outputs) == set(expected)
    for name, value in expected.items():
        got = tf.make_ndarray(response.outputs[name])
        if value.dtype == object:
            assert got.tolist() == value.tolist(), name
        else:
            np.testing.assert_allclose(got, value, atol=1e-5, err_msg=name)


def test_predict_takes_settings_and_an_output_filter(channel, servable):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_request(
        "generate", text=TEXTS[:2], max_length=np.int32(4), min_length=np.int32(0)
    )
    request.output_filter.append("text")
    response = stub.Predict(request, timeout=30)
    assert list(response.outputs) == ["text"]
    signature = servable.signature("generate")
    parsed = parse_predict(
        {"inputs": {"text": TEXTS[:2], "max_length": 4, "min_length": 0}},
        signature.inputs,
        signature.defaults,
    )
    expected = signature(parsed.inputs)  # the SavedModel, with the export's settings
    assert tf.make_ndarray(response.outputs["text"]).tolist() == (
        expected["text"].tolist()
    )


def test_model_metadata_and_status(channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "beam"
    request.metadata_field.append("signature_def")
    response = stub.GetModelMetadata(request, timeout=30)
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_defs)
    assert {"serving_default", "generate", "score"} <= set(signature_defs.signature_def)
    text = signature_defs.signature_def["serving_default"].inputs["text"]
    assert text.dtype == tf.string.as_datatype_enum

    status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
        get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "beam"}),
        timeout=30,
    )
    (version,) = status.model_version_status
    assert version.version == 1
    assert version.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE


@pytest.mark.parametrize(
    "request_kwargs, code, match",
    [
        ({"model": "other", "text": ["a"]}, "NOT_FOUND", "Latest\\(other\\)"),
        ({"signature": "nope", "text": ["a"]}, "INVALID_ARGUMENT", "not found"),
        ({"words": ["a"]}, "INVALID_ARGUMENT", "no input named 'words'"),
        ({"text": [1, 2]}, "INVALID_ARGUMENT", "takes strings"),
        ({"text": ["a"] * 7}, "INVALID_ARGUMENT", "--max-rows"),
        (
            {"signature": "generate", "text": ["a"], "repetition_penalty": 0.0},
            "INVALID_ARGUMENT",
            "repetition_penalty",
        ),
    ],
)
def test_bad_requests_get_their_grpc_code(channel, request_kwargs, code, match):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(predict_request(**request_kwargs), timeout=30)
    assert raised.value.code() == getattr(grpc.StatusCode, code)
    assert raised.value.details() and __import__("re").search(
        match, raised.value.details()
    ), raised.value.details()
    # and the server keeps serving
    assert stub.Predict(predict_request(text=["a b"]), timeout=30).outputs


def test_a_full_line_and_a_deadline_get_their_grpc_codes(servable):
    """RESOURCE_EXHAUSTED when too much work waits, DEADLINE_EXCEEDED past the
    server's deadline, while a held call runs."""
    gate = threading.Event()

    with (
        serve(
            held_servable(servable, gate), max_queued_tokens=30, request_timeout_s=5.0
        ) as server,
        channel_of(server) as channel,
    ):
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        running = stub.Predict.future(predict_request(text=["a"]), timeout=30)
        deadline = time.monotonic() + 4
        while server.app.state.batcher.calls == 0:  # the first call is held
            assert time.monotonic() < deadline, "the first request never ran"
            threading.Event().wait(0.01)
        waiting = stub.Predict.future(predict_request(text=["a", "b"]), timeout=30)
        while server.app.state.batcher.queued_tokens() < 20:
            assert time.monotonic() < deadline, "the second request never waited"
            threading.Event().wait(0.01)
        try:
            with pytest.raises(grpc.RpcError) as refused:
                stub.Predict(predict_request(text=["c", "d"]), timeout=30)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "--max-queued-tokens" in refused.value.details()
            for future in (running, waiting):
                with pytest.raises(grpc.RpcError) as late:
                    future.result()
                assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                assert "within 5 s" in late.value.details()
        finally:
            gate.set()
