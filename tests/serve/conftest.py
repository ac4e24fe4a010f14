import socket
import threading
import time

import pytest
import uvicorn

from s2s_keras.serve import Servable
from s2s_keras.serve import create_app
from tests.export.test_export import sharp_export


@pytest.fixture(scope="session")
def beam_export(tmp_path_factory):
    """An export that decodes with beam search (so `generate` has an n-best)."""
    directory, _, _ = sharp_export(
        tmp_path_factory, "beam_export", method="beam", beam_width=3
    )
    return directory


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
