"""The HTTP application: TF Serving's REST API and a page, on Starlette.

| request | answer |
|---|---|
| `GET /v1/models/NAME` | the version's status (`model_version_status`) |
| `GET /v1/models/NAME/metadata` | the signatures (`metadata.signature_def`) |
| `POST /v1/models/NAME:predict` | `{"instances": ...}` or `{"inputs": ...}`, optional `signature_name` (`tensors.py`) |
| `GET /` | a page: a text in, the output, its score, the n-best and the attention |

`/v1/models/NAME/versions/1/...` answers as well. Every error is JSON,
`{"error": "..."}`: 400 for a body the signature cannot take (a setting out
of its range included), 404 for another model, version or path, 405 for a
wrong method, 413 for a body or a number of rows over the limit, 503 when
the queue is full (with `Retry-After`), 429 when too much work waits for
a request of its size (with `Retry-After`), 504 past its deadline, 500
for a fault of the server, which keeps serving: its answer holds a request
id and no detail, and the log holds the exception under that id.
"""

import contextlib
import html
import importlib.resources
import json
import logging
import re
import uuid

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse
from starlette.responses import JSONResponse
from starlette.routing import Route

from s2s_keras.serve.batcher import Busy
from s2s_keras.serve.batcher import DeadlineExceeded
from s2s_keras.serve.batcher import MicroBatcher
from s2s_keras.serve.batcher import Overloaded
from s2s_keras.serve.predict import format_predict
from s2s_keras.serve.predict import parse_predict
from s2s_keras.serve.predict import signature_name_of
from s2s_keras.serve.servable import VERSION
from s2s_keras.serve.tensors import RequestError

MODEL_PATH = re.compile(
    r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?P<rest>/metadata|:[A-Za-z]+)?$"
)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
LOG = logging.getLogger("s2s_keras.serve")


def create_app(
    servable,
    name,
    max_batch_size=32,
    batch_timeout_ms=5.0,
    max_queued=256,
    max_body_bytes=1 << 20,
    max_rows=256,
    request_timeout_s=30.0,
    max_output_tokens=8192,
    max_queued_tokens=8192,
):
    """The Starlette app serving `servable` as model `name`.

    Args:
        servable: a `Servable` (an export folder's SavedModel).
        name: the model's name in the URLs: letters, digits, `.`, `_`, `-`.
        max_batch_size: rows in one call of the model at most; a larger
            request is split into calls of this size, in turns with the
            other requests (`batcher.py`).
        batch_timeout_ms: how long a request waits for others to batch with.
        max_queued: requests waiting at most; more are answered 503.
        max_body_bytes: the largest request body taken; larger ones get 413.
        max_rows: rows in one request at most; more are answered 413.
        max_output_tokens: rows times the output length a request asks for
            (its `max_length`, or the export's), at most; more are answered
            413. In calls, a row asking for k times the export's length
            counts as k rows of `max_batch_size`.
        max_queued_tokens: output tokens the waiting requests may ask for
            at most; a request that would pass it is answered 429 (unless
            nothing waits). None: no limit.
        request_timeout_s: seconds a request may take, queueing included;
            past them 504, and its rows not yet run are dropped. None: no
            limit.

    Returns:
        A `starlette.applications.Starlette`; its `state.batcher` is the
        `MicroBatcher` (its `calls` count the model's calls).
    """
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(
            f"A model name is letters, digits, '.', '_' and '-', starting with a "
            f"letter or digit; got {name!r}"
        )
    if (
        isinstance(max_body_bytes, bool)
        or not isinstance(max_body_bytes, int)
        or max_body_bytes < 1
    ):
        raise ValueError(
            f"max_body_bytes must be a positive integer, got {max_body_bytes!r}"
        )
    for argument, value in (
        ("max_rows", max_rows),
        ("max_output_tokens", max_output_tokens),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{argument} must be a positive integer, got {value!r}")
    batcher = MicroBatcher(
        max_batch_size,
        batch_timeout_ms,
        max_queued,
        request_timeout_s,
        max_queued_tokens,
    )
    page = _page(name)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        await batcher.stop()

    async def index(request):
        return HTMLResponse(page)

    async def model(request):
        path = request.path_params["path"]
        match = MODEL_PATH.match(path)
        if not match:
            raise RequestError(f"no such endpoint: /v1/models/{path}", 404)
        _check_servable(match["name"], match["version"], name)
        rest = match["rest"]
        if request.method == "GET":
            if rest is None:
                return JSONResponse(_status())
            if rest == "/metadata":
                return JSONResponse(_metadata(name, servable))
            raise RequestError(f"{rest} takes POST, not GET", 405)
        if rest in (":classify", ":regress"):
            raise RequestError(
                f"this model answers :predict only; it has no {rest[1:]} signature"
            )
        if rest != ":predict":
            raise RequestError(f"no such endpoint: POST /v1/models/{path}", 404)
        body = await _read_json(request, max_body_bytes)
        signature = servable.signature(signature_name_of(body))
        parsed = parse_predict(body, signature.inputs, signature.defaults)
        if parsed.rows > max_rows:
            raise RequestError(
                f"the request has {parsed.rows} rows; this server takes {max_rows} "
                "at most in one request (--max-rows): send them in several",
                413,
            )
        length = signature.length_asked(parsed.inputs)
        if parsed.rows * length > max_output_tokens:
            raise RequestError(
                f"the request asks for {parsed.rows} rows of up to {length} output "
                f"tokens ({parsed.rows * length}); this server takes "
                f"{max_output_tokens} at most in one request (--max-output-tokens): "
                "send fewer rows, or a smaller max_length",
                413,
            )
        row_cost = -(-length // (signature.max_length or length))  # ceil
        outputs = await batcher.submit(
            signature, parsed.inputs, parsed.rows, row_cost, length
        )
        return JSONResponse(format_predict(outputs, parsed.row_format))

    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
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
    app.state.batcher = batcher
    return app


def _check_servable(requested, version, name):
    if requested != name:
        raise RequestError(f"Servable not found for request: Latest({requested})", 404)
    if version is not None and version != VERSION:
        raise RequestError(
            f"Servable not found for request: Specific({requested}, {version}); "
            f"version {VERSION} is served",
            404,
        )


def _status():
    return {
        "model_version_status": [
            {
                "version": VERSION,
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


def _metadata(name, servable):
    return {
        "model_spec": {"name": name, "signature_name": "", "version": VERSION},
        "metadata": {"signature_def": servable.signature_defs},
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


def _page(name):
    template = (
        importlib.resources.files("s2s_keras.serve").joinpath("page.html").read_text()
    )
    return template.replace("{{MODEL_NAME}}", html.escape(name, quote=True))


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
