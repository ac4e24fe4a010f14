import socket
import threading
import time

import pytest
import uvicorn

from s2s_keras.serve import Servable
from s2s_keras.serve import create_app


@pytest.fixture(scope="session")
def servable(beam_export):
    return Servable(beam_export)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveServer:
    """An app served by uvicorn on 127.0.0.1, in a thread of this process."""

    def __init__(self, app):
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info):
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def live_server(servable):
    """The beam export served on a free port; yields the `LiveServer`."""
    with LiveServer(create_app(servable, "beam")) as server:
        yield server


def held_servable(servable, gate):
    """`servable` with a `serving_default` whose calls wait for `gate` (a
    `threading.Event`), so a test can hold one call while others queue."""
    signature = servable.signature("serving_default")

    class Held:
        name, batchable, inputs = signature.name, False, signature.inputs
        defaults, max_length = signature.defaults, signature.max_length
        outputs = signature.outputs

        def length_asked(self, inputs):
            return signature.length_asked(inputs)

        def __call__(self, inputs):
            gate.wait(30)
            return signature(inputs)

    class HeldServable:
        signatures = {"serving_default": Held()}
        signature_defs = servable.signature_defs

        def signature(self, name):
            return self.signatures[name]

    return HeldServable()
