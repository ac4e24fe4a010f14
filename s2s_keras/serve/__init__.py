"""Serving an export: TF Serving's REST and gRPC APIs, micro-batched, and a page.

    python -m s2s_keras.serve saved_models/summarize --port 8501

A client written for TF Serving works unchanged:

    curl -d '{"instances": ["A fast text editor ..."]}' \
        http://127.0.0.1:8501/v1/models/summarize:predict

Modules, bottom up: `tensors.py` (JSON values and arrays), `predict.py`
(the `:predict` request and answer formats), `servable.py` (the export's
SavedModel and its signatures), `jobs.py` (a request's rows in pieces),
`batcher.py` (the bounded queue and the micro-batches), `metrics.py`
(Prometheus's), `predictor.py` (one version's limits and batcher, behind
both protocols), `versions.py` (a model's versions, polled), `app.py` (the
Starlette routes and errors), `grpc_api.py` (TF Serving's gRPC services),
`config.py` (what to serve: a PATH, or a model config file), `page.html`
(the page at `/`), `__main__.py` (the command line).
"""

from s2s_keras.serve.app import create_app
from s2s_keras.serve.batcher import Busy
from s2s_keras.serve.batcher import DeadlineExceeded
from s2s_keras.serve.batcher import MicroBatcher
from s2s_keras.serve.batcher import Overloaded
from s2s_keras.serve.servable import Servable
from s2s_keras.serve.servable import Signature
from s2s_keras.serve.tensors import RequestError

__all__ = [
    "Busy",
    "DeadlineExceeded",
    "MicroBatcher",
    "Overloaded",
    "RequestError",
    "Servable",
    "Signature",
    "create_app",
]
