"""The HTTP application: TF Serving's REST API and a page, on Starlette.

| request | answer |
|---|---|
| `GET /v1/models/NAME` | its versions' status (`model_version_status`) |
| `GET /v1/models/NAME/metadata` | the signatures (`metadata.signature_def`) |
| `POST /v1/models/NAME:predict` | `{"instances": ...}` or `{"inputs": ...}`, optional `signature_name` (`tensors.py`) |
| `GET /` | a page: a text in, the output, its score, the n-best and the attention (`/?model=NAME` for another model) |
| `GET /monitoring/prometheus/metrics` | the metrics, in Prometheus's format (`metrics.py`) |

`/v1/models/NAME/versions/N/...` and `/v1/models/NAME/labels/L/...` ask
for a version (`versions.py`); without, the newest available answers, and
503 while none is. Every error is JSON,
`{"error": "..."}`: 400 for a body the signature cannot take (a setting out
of its range included), 404 for another model, version or path, 405 for a
wrong method, 413 for a body or a number of rows over the limit, 503 when
the queue is full (with `Retry-After`), 429 when too much work waits for
a request of its size (with `Retry-After`), 504 past its deadline, 500
for a fault of the server, which keeps serving: its answer holds a request
id and no detail, and the log holds the exception under that id.
"""

import contextlib
import dataclasses
import functools
import html
import importlib.resources
import json
import logging
import re
import urllib.parse
import uuid

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse
from starlette.responses import JSONResponse
from starlette.responses import Response
from starlette.routing import Route

from s2s_keras.serve.batcher import Busy
from s2s_keras.serve.batcher import DeadlineExceeded
from s2s_keras.serve.batcher import Overloaded
from s2s_keras.serve.metrics import CONTENT_TYPE
from s2s_keras.serve.metrics import Metrics
from s2s_keras.serve.predict import format_predict
from s2s_keras.serve.predict import parse_predict
from s2s_keras.serve.predict import signature_name_of
from s2s_keras.serve.predictor import Predictor
from s2s_keras.serve.servable import Servable
from s2s_keras.serve.tensors import RequestError
from s2s_keras.serve.versions import ModelVersions
from s2s_keras.serve.versions import VersionPolicy
from s2s_keras.serve.versions import model_named

MODEL_PATH = re.compile(
    r"^(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<rest>/metadata|:[A-Za-z]+)?$"
)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
LOG = logging.getLogger("s2s_keras.serve")


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """Where a served model comes from: a loaded `Servable` (version 1), or
    a base folder of numbered export folders with its policy and labels
    (`versions.py`)."""

    name: str
    servable: object = None
    base: object = None
    policy: VersionPolicy = VersionPolicy()
    labels: dict = dataclasses.field(default_factory=dict)


def create_app(
    servable=None,
    name=None,
    max_batch_size=32,
    batch_timeout_ms=5.0,
    max_queued=256,
    max_body_bytes=1 << 20,
    max_rows=256,
    request_timeout_s=30.0,
    max_output_tokens=8192,
    max_queued_tokens=8192,
    grpc_port=None,
    host="127.0.0.1",
    models=None,
    poll_seconds=None,
):
    """The Starlette app serving `servable` as model `name`, or several `models`.

    Args:
        servable: a `Servable` (an export folder's SavedModel), served as
            version 1 of model `name`; or None, with `models`.
        name: the model's name in the URLs: letters, digits, `.`, `_`, `-`.
        max_batch_size: rows in one call of the model at most; a larger
            request is split into calls, in turns with the other requests
            (`batcher.py`).
        batch_timeout_ms: how long a request waits for others to batch with.
        max_queued: requests waiting at most (each version); more are
            answered 503.
        max_body_bytes: the largest request body taken; larger ones get 413.
        max_rows: rows in one request at most; more are answered 413.
        max_output_tokens: rows times the output length a request asks for
            (its `max_length`, or the export's), at most; more are answered
            413. In calls, a row asking for k times the export's length
            counts as k rows of `max_batch_size`.
        max_queued_tokens: output tokens the waiting requests of a size
            (large or small) may ask for at most; a request that would pass
            it is answered 429 (unless none of its size waits). None: no
            limit.
        request_timeout_s: seconds a request may take, queueing included;
            past them 504, and its rows not yet run are dropped. None: no
            limit.
        grpc_port: also serve TF Serving's gRPC API on this port (0: any
            free one), through the same batchers and limits; None: REST only.
        host: the address the gRPC server listens on.
        models: `ModelSource`s, each model served by its name (instead of
            `servable` and `name`).
        poll_seconds: how often base folders are looked at for new
            versions; None: only at start.

    Returns:
        A `starlette.applications.Starlette`. Its `state.models` are the
        `ModelVersions` by name, `state.metrics` the `Metrics`,
        `state.batcher` the first model's first version's `MicroBatcher`
        when `servable` is given (its `calls` count the model's calls), and
        `state.grpc_server` the gRPC server once started (its `port` the one
        bound), or None.
    """
    if models is None:
        models = [ModelSource(name, servable=servable)]
    for source in models:
        if not isinstance(source.name, str) or not NAME.match(source.name):
            raise ValueError(
                f"A model name is letters, digits, '.', '_' and '-', starting with a "
                f"letter or digit; got {source.name!r}"
            )
    if (
        isinstance(max_body_bytes, bool)
        or not isinstance(max_body_bytes, int)
        or max_body_bytes < 1
    ):
        raise ValueError(
            f"max_body_bytes must be a positive integer, got {max_body_bytes!r}"
        )
    limits = dict(
        max_batch_size=max_batch_size,
        batch_timeout_ms=batch_timeout_ms,
        max_queued=max_queued,
        max_rows=max_rows,
        request_timeout_s=request_timeout_s,
        max_output_tokens=max_output_tokens,
        max_queued_tokens=max_queued_tokens,
    )
    Predictor(None, "limits", **limits)  # a bad limit raises now, not at a load
    metrics = Metrics()
    served = {}
    for source in models:

        def make_predictor(servable, version, model=source.name):
            return Predictor(servable, model, version, metrics, **limits)

        served[source.name] = ModelVersions(
            source.name,
            make_predictor,
            base=source.base,
            servable=source.servable,
            load=_loaded,
            policy=source.policy,
            labels=source.labels,
            poll_seconds=poll_seconds,
            on_load=functools.partial(metrics.loaded, source.name),
        )
        metrics.watch_queue(
            source.name, lambda versions=served[source.name]: versions.queued
        )
        if source.servable is not None:
            metrics.loaded(source.name, 1, failed=False)
    pages = {name: _page(name, list(served)) for name in served}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        for versions in served.values():
            await versions.start()
        app.state.grpc_server = None
        if grpc_port is not None:
            from s2s_keras.serve.grpc_api import start_grpc

            app.state.grpc_server = await start_grpc(
                served, metrics, host, grpc_port, max_body_bytes
            )
        yield
        if app.state.grpc_server is not None:  # the calls in flight may finish
            await app.state.grpc_server.stop(request_timeout_s)
        for versions in served.values():
            await versions.stop()

    async def index(request):
        """The page of the model `?model=NAME`, the first one by default."""
        name = request.query_params.get("model", models[0].name)
        return HTMLResponse(pages[model_named(served, name).name])

    async def scrape(request):
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    async def model(request):
        path = request.path_params["path"]
        match = MODEL_PATH.match(path)
        if not match:
            raise RequestError(f"no such endpoint: /v1/models/{path}", 404)
        versions = model_named(served, match["name"])
        rest, version, label = match["rest"], match["version"], match["label"]
        if request.method == "GET":
            if rest is None:
                if label is not None:
                    version = str(versions.resolve(label=label).number)
                return JSONResponse(versions.status(version))
            if rest == "/metadata":
                with versions.serving(version, label) as chosen:
                    return JSONResponse(_metadata(chosen.predictor))
            raise RequestError(f"{rest} takes POST, not GET", 405)
        if rest in (":classify", ":regress"):
            raise RequestError(
                f"this model answers :predict only; it has no {rest[1:]} signature"
            )
        if rest != ":predict":
            raise RequestError(f"no such endpoint: POST /v1/models/{path}", 404)
        async with metrics.observe("rest") as observed:
            observed.model = versions.name
            with versions.serving(version, label) as chosen:
                observed.version = str(chosen.number)
                body = await _read_json(request, max_body_bytes)
                observed.signature = signature_name_of(body)
                predictor = chosen.predictor
                signature = predictor.servable.signature(observed.signature)
                parsed = parse_predict(body, signature.inputs, signature.defaults)
                outputs = await predictor.predict(parsed)
        return JSONResponse(format_predict(outputs, parsed.row_format))

    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/monitoring/prometheus/metrics", scrape, methods=["GET"]),
            Route("/v1/models/{path:path}", model, methods=["GET", "POST"]),
        ],
        exception_handlers={
            RequestError: _error_answer,
            Busy: _busy_answer,
            Overloaded: _overloaded_answer,
            DeadlineExceeded: _deadline_answer,
            HTTPException: _http_answer,
            Exception: _fault_answer,
        },
        lifespan=lifespan,
    )
    app.state.models = served
    app.state.metrics = metrics
    first = served[models[0].name].versions.get(1)
    app.state.batcher = first.predictor.batcher if first else None
    return app


def _loaded(folder):
    """A version's `Servable`, warmed up (run in a thread while others serve)."""
    servable = Servable(folder)
    servable.warm_up()
    return servable


def _metadata(predictor):
    return {
        "model_spec": {
            "name": predictor.name,
            "signature_name": "",
            "version": str(predictor.version),
        },
        "metadata": {"signature_def": predictor.servable.signature_defs},
    }


async def _read_json(request, limit):
    """The body as JSON, refused (413) past `limit` bytes before it is all read."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise RequestError(
            f"the body is {length} bytes; this server takes {limit} at most", 413
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(
                f"the body is over {limit} bytes, the most this server takes", 413
            )
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise RequestError(f"the body is not valid JSON: {error}") from None


def _page(name, names):
    """The page of model `name`, with links to the others of `names`."""
    template = (
        importlib.resources.files("s2s_keras.serve").joinpath("page.html").read_text()
    )
    links = " · ".join(
        f'<a href="/?model={urllib.parse.quote(other)}">{html.escape(other)}</a>'
        for other in names
        if other != name
    )
    others = (
        f'<nav class="muted" id="models">Other models: {links}</nav>' if links else ""
    )
    return template.replace("{{MODEL_NAME}}", html.escape(name, quote=True)).replace(
        "{{MODELS}}", others
    )


def _json_error(message, status, headers=None):
    return JSONResponse({"error": message}, status, headers=headers)


async def _error_answer(request, error):
    return _json_error(str(error), error.status)


async def _busy_answer(request, error):
    return _json_error(str(error), 503, headers={"Retry-After": "1"})


async def _http_answer(request, error):
    return _json_error(error.detail, error.status_code, headers=error.headers)


async def _overloaded_answer(request, error):
    return _json_error(str(error), 429, headers={"Retry-After": "2"})


async def _deadline_answer(request, error):
    return _json_error(str(error), 504)


async def _fault_answer(request, error):
    """500: a request id to quote; the exception goes to the log only."""
    request_id = uuid.uuid4().hex[:16]
    LOG.error(
        "request %s (%s %s) failed",
        request_id,
        request.method,
        request.url.path,
        exc_info=error,
    )
    return _json_error(
        f"internal error (request id {request_id}); the server's log has the details",
        500,
        headers={"X-Request-Id": request_id},
    )
