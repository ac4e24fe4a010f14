"""Serving an export over HTTP: TF Serving's REST API, micro-batched, and a page.

    python -m s2s_keras.serve saved_models/summarize --port 8501

A client written for TF Serving works unchanged:

    curl -d '{"instances": ["A fast text editor ..."]}' \
        http://127.0.0.1:8501/v1/models/summarize:predict

Modules, bottom up: `tensors.py` (JSON values and arrays), `predict.py`
(the `:predict` request and answer formats),
`servable.py` (the export's SavedModel and its signatures), `batcher.py`
(the bounded queue and the micro-batches), `app.py` (the Starlette routes and
errors), `page.html` (the page at `/`), `__main__.py` (the command line).
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
