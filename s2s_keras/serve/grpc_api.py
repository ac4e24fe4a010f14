"""TF Serving's gRPC API, with the protos of `tensorflow-serving-api`.

    python -m s2s_keras.serve saved_models/summarize --grpc-port 8500

A client written for TF Serving works unchanged:

    import grpc, tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel("127.0.0.1:8500"))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "summarize"
    request.inputs["text"].CopyFrom(tf.make_tensor_proto(["A fast text editor ..."]))
    print(stub.Predict(request, timeout=10).outputs["text"].string_val)

| service | method | answer |
|---|---|---|
| `PredictionService` | `Predict` | the signature's outputs (`output_filter` keeps some) |
| `PredictionService` | `GetModelMetadata` | `signature_def` (a packed `SignatureDefMap`) |
| `ModelService` | `GetModelStatus` | the version and its state |

A `Predict` request is read into the same `PredictRequest` as a REST one
(the inputs as nested values, checked against the signature, settings
left out taking the export's) and runs through the same `Predictor`: the
same batcher, limits and metrics. Errors map to gRPC's codes: a bad input
or a request over a limit `INVALID_ARGUMENT`, another model or version
`NOT_FOUND`, a full queue or too much work waiting `RESOURCE_EXHAUSTED`,
past the server's deadline `DEADLINE_EXCEEDED` (a client's own deadline
cancels the request, and its rows not yet run are dropped), a fault of
the server `INTERNAL`, with a request id and the details in the log only.
A message over the server's body limit is refused by gRPC itself
(`RESOURCE_EXHAUSTED`).
"""

import logging
import uuid

import grpc
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from s2s_keras.serve.metrics import status_of
from s2s_keras.serve.predict import parse_predict
from s2s_keras.serve.tensors import RequestError
from s2s_keras.serve.versions import model_named

LOG = logging.getLogger("s2s_keras.serve")
# HTTP statuses (what REST answers) as gRPC codes.
CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.RESOURCE_EXHAUSTED,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


async def start_grpc(models, metrics, host, port, max_message_bytes=1 << 20):
    """Starts TF Serving's gRPC services for `models` in the running loop.

    Args:
        models: the `ModelVersions` by name, which the REST API serves too.
        metrics: the server's `Metrics`.
        host: the address to listen on.
        port: the port (0: any free one; `server.port` says which).
        max_message_bytes: the largest request message taken.

    Returns:
        The started `grpc.aio.Server`, with the bound port as `port`.
    """
    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", max_message_bytes)]
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(models, metrics), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(models), server
    )
    server.port = server.add_insecure_port(f"{host}:{port}")
    if not server.port:
        raise ValueError(f"could not listen for gRPC on {host}:{port}")
    await server.start()
    return server


def _versions(models, model_spec):
    """The `ModelVersions` a model spec names, and the version or label asked."""
    versions = model_named(models, model_spec.name)
    version = str(model_spec.version.value) if model_spec.HasField("version") else None
    return versions, version, model_spec.version_label or None


async def _abort(context, error):
    """Ends the call with the gRPC code of `error` and its message."""
    status = status_of(error)
    if status in CODES:
        await context.abort(CODES[status], str(error))
    request_id = uuid.uuid4().hex[:16]
    LOG.error("gRPC request %s failed", request_id, exc_info=error)
    await context.abort(
        grpc.StatusCode.INTERNAL,
        f"internal error (request id {request_id}); the server's log has the details",
    )


def _spec_of(response, predictor, signature_name=None):
    response.model_spec.name = predictor.name
    response.model_spec.version.value = predictor.version
    if signature_name is not None:
        response.model_spec.signature_name = signature_name


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """`Predict` and `GetModelMetadata` of the served models."""

    def __init__(self, models, metrics):
        self.models, self.metrics = models, metrics

    async def Predict(self, request, context):  # noqa: N802  (the proto's name)
        try:
            async with self.metrics.observe("grpc") as seen:
                versions, version, label = _versions(self.models, request.model_spec)
                seen.model = versions.name
                with versions.serving(version, label) as chosen:
                    seen.version = str(chosen.number)
                    predictor = chosen.predictor
                    seen.signature = (
                        request.model_spec.signature_name or "serving_default"
                    )
                    signature = predictor.servable.signature(seen.signature)
                    inputs = {
                        name: tf.make_ndarray(proto).tolist()
                        for name, proto in request.inputs.items()
                    }
                    parsed = parse_predict(
                        {"signature_name": seen.signature, "inputs": inputs},
                        signature.inputs,
                        signature.defaults,
                    )
                    kept = set(request.output_filter) or set(signature.outputs)
                    if kept - set(signature.outputs):
                        raise RequestError(
                            f"output_filter names {sorted(kept - set(signature.outputs))}; "
                            f"the signature's outputs are {sorted(signature.outputs)}"
                        )
                    outputs = await predictor.predict(parsed)
        except Exception as error:  # noqa: BLE001  (answered with its code)
            await _abort(context, error)
        response = predict_pb2.PredictResponse()
        _spec_of(response, predictor, seen.signature)
        for name, array in outputs.items():
            if name in kept:
                response.outputs[name].CopyFrom(tf.make_tensor_proto(array))
        return response

    async def GetModelMetadata(self, request, context):  # noqa: N802
        try:
            versions, version, label = _versions(self.models, request.model_spec)
            fields = list(request.metadata_field)
            if fields != ["signature_def"]:
                raise RequestError(
                    f"metadata_field must be ['signature_def'], got {fields}"
                )
            with versions.serving(version, label) as chosen:
                predictor = chosen.predictor
        except Exception as error:  # noqa: BLE001
            await _abort(context, error)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _spec_of(response, predictor)
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in predictor.servable.signature_def_protos.items():
            signature_defs.signature_def[name].CopyFrom(signature_def)
        response.metadata["signature_def"].Pack(signature_defs)
        return response


# TF Serving's states, as ModelVersionStatus numbers them.
STATES = {
    name: getattr(get_model_status_pb2.ModelVersionStatus, name)
    for name in ("START", "LOADING", "AVAILABLE", "UNLOADING", "END")
}


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """`GetModelStatus` of the served models."""

    def __init__(self, models):
        self.models = models

    async def GetModelStatus(self, request, context):  # noqa: N802
        try:
            versions, version, label = _versions(self.models, request.model_spec)
            if label is not None:
                version = str(versions.resolve(label=label).number)
            statuses = versions.status(version)["model_version_status"]
        except Exception as error:  # noqa: BLE001
            await _abort(context, error)
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in statuses:
            entry = response.model_version_status.add()
            entry.version = int(status["version"])
            entry.state = STATES[status["state"]]
            if status["status"]["error_message"]:
                entry.status.error_code = 2  # UNKNOWN
                entry.status.error_message = status["status"]["error_message"]
        return response
