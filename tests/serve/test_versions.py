"""Versions of a model: a base folder polled, loaded, swapped and unloaded."""

import asyncio
import json
import shutil
import threading
import time

import httpx2
import numpy as np
import pytest

from s2s_keras.serve.app import ModelSource
from s2s_keras.serve.app import create_app
from s2s_keras.serve.predictor import Predictor
from s2s_keras.serve.tensors import RequestError
from s2s_keras.serve.tensors import TensorSpec
from s2s_keras.serve.versions import ModelVersions
from s2s_keras.serve.versions import VersionPolicy
from s2s_keras.serve.versions import parse_labels
from tests.serve.conftest import LiveServer


@pytest.mark.parametrize(
    "text, found, chosen",
    [
        ("latest", [1, 3, 2], {3}),
        ("latest:2", [1, 3, 2], {2, 3}),
        ("all", [1, 3, 2], {1, 2, 3}),
        ("1,3", [1, 2], {1}),
    ],
)
def test_version_policies(text, found, chosen):
    assert VersionPolicy.parse(text).choose(found) == chosen


@pytest.mark.parametrize("text", ["latest:0", "newest", "1,x", "latest:two"])
def test_a_bad_version_policy_raises_naming_it(text):
    with pytest.raises(ValueError, match=repr(text)):
        VersionPolicy.parse(text)


def test_labels():
    assert parse_labels("stable=1,canary=2") == {"stable": 1, "canary": 2}
    assert parse_labels("") == {}
    with pytest.raises(ValueError, match="LABEL=VERSION"):
        parse_labels("stable")


class Echo:
    """A stand-in signature: answers each text with the version's number."""

    name, batchable = "serving_default", True
    inputs = {"text": TensorSpec("string", (None,))}
    outputs = {"version": TensorSpec("int32", (None,))}
    defaults, max_length = {}, None

    def __init__(self, number, gate=None):
        self.number, self.gate = number, gate

    def length_asked(self, inputs):
        return 1

    def __call__(self, inputs):
        if self.gate is not None:
            self.gate.wait(10)
        return {"version": np.full(len(inputs["text"]), self.number, np.int32)}


class EchoServable:
    def __init__(self, number, gate=None):
        self.signatures = {"serving_default": Echo(number, gate)}

    def signature(self, name):
        return self.signatures[name]


def write_version(base, number, complete=True, broken=False):
    """A folder with the files a complete export has (empty stand-ins)."""
    folder = base / str(number)
    (folder / "saved_model" / "variables").mkdir(parents=True)
    (folder / "saved_model" / "saved_model.pb").write_bytes(b"")
    if complete:
        (folder / "saved_model" / "variables" / "variables.index").write_bytes(b"")
        (folder / "export.json").write_text(json.dumps({"broken": broken}))
    return folder


def versions_of(base, gates=None, **options):
    gates = gates or {}

    def load(folder):
        if json.loads((folder / "export.json").read_text())["broken"]:
            raise ValueError(f"no model in {folder}")
        return EchoServable(int(folder.name), gates.get(int(folder.name)))

    return ModelVersions(
        "m",
        lambda servable, number: Predictor(servable, "m", number, batch_timeout_ms=0),
        base=base,
        load=load,
        **options,
    )


async def settle(versions):
    """Waits for the loads and unloads under way."""
    for _ in range(200):
        if not versions._tasks:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("loads did not end")


async def answer(versions, version=None, label=None):
    from s2s_keras.serve.predict import PredictRequest

    with versions.serving(version, label) as chosen:
        request = PredictRequest(
            "serving_default", {"text": np.array([b"a"], object)}, 1, True
        )
        return int((await chosen.predictor.predict(request))["version"][0])


def states(versions):
    return {n: v.state for n, v in versions.versions.items()}


def test_a_new_version_is_loaded_once_complete_and_settled_then_swapped_in(tmp_path):
    async def scenario():
        write_version(tmp_path, 1)
        versions = versions_of(tmp_path)
        await versions.start()
        await settle(versions)
        assert states(versions) == {1: "AVAILABLE"} and await answer(versions) == 1

        incomplete = write_version(tmp_path, 2, complete=False)
        await versions.poll()
        assert 2 not in versions.versions  # still being written
        (incomplete / "saved_model" / "variables" / "variables.index").write_bytes(b"")
        (incomplete / "export.json").write_text(json.dumps({"broken": False}))
        await versions.poll()
        assert 2 not in versions.versions  # complete, but new since the last look
        await versions.poll()
        await settle(versions)
        assert states(versions) == {1: "END", 2: "AVAILABLE"}
        assert await answer(versions) == 2
        with pytest.raises(RequestError, match=r"Specific\(m, 1\)") as missing:
            await answer(versions, "1")
        assert missing.value.status == 404
        assert versions.status()["model_version_status"][0]["state"] == "END"
        await versions.stop()

    asyncio.run(scenario())


def test_a_version_unloads_after_its_requests_in_flight(tmp_path):
    """Version 1's call is held while version 2 comes: 1 is UNLOADING, its
    request is answered by 1, new requests by 2, then 1 ends."""
    gate = threading.Event()

    async def scenario():
        write_version(tmp_path, 1)
        versions = versions_of(tmp_path, gates={1: gate})
        await versions.start()
        await settle(versions)
        in_flight = asyncio.ensure_future(answer(versions))
        await asyncio.sleep(0.05)
        write_version(tmp_path, 2)
        await versions.poll()
        await versions.poll()
        for _ in range(100):
            if states(versions) == {1: "UNLOADING", 2: "AVAILABLE"}:
                break
            await asyncio.sleep(0.01)
        assert states(versions) == {1: "UNLOADING", 2: "AVAILABLE"}
        assert await answer(versions) == 2
        gate.set()
        assert await in_flight == 1
        await settle(versions)
        assert states(versions) == {1: "END", 2: "AVAILABLE"}
        await versions.stop()

    asyncio.run(scenario())


def test_a_version_that_fails_to_load_is_reported_and_the_previous_serves(tmp_path):
    loads = []

    async def scenario():
        write_version(tmp_path, 1)
        versions = versions_of(
            tmp_path, on_load=lambda number, failed: loads.append((number, failed))
        )
        await versions.start()
        write_version(tmp_path, 2, broken=True)
        await versions.poll()
        await versions.poll()
        await settle(versions)
        assert states(versions) == {1: "AVAILABLE", 2: "END"}
        (two,) = [
            s for s in versions.status()["model_version_status"] if s["version"] == "2"
        ]
        assert two["status"]["error_code"] == "UNKNOWN"
        assert "no model in" in two["status"]["error_message"]
        assert await answer(versions) == 1
        await versions.poll()  # unchanged: not tried again
        await settle(versions)
        assert loads == [(1, False), (2, True)]
        await versions.stop()

    asyncio.run(scenario())


def test_labels_and_specific_versions(tmp_path):
    async def scenario():
        for number in (1, 2, 3):
            write_version(tmp_path, number)
        versions = versions_of(
            tmp_path,
            policy=VersionPolicy.parse("1,3"),
            labels={"stable": 1, "canary": 3, "gone": 2},
        )
        await versions.start()
        await settle(versions)
        assert states(versions) == {1: "AVAILABLE", 3: "AVAILABLE"}
        assert await answer(versions) == 3
        assert await answer(versions, label="stable") == 1
        assert await answer(versions, "3") == 3
        for version, label in (("2", None), (None, "gone"), (None, "nope")):
            with pytest.raises(RequestError) as refused:
                await answer(versions, version, label)
            assert refused.value.status == 404
        await versions.stop()

    asyncio.run(scenario())


def test_no_version_yet_is_answered_503_not_ready(tmp_path):
    async def scenario():
        versions = versions_of(tmp_path)
        await versions.start()
        with pytest.raises(RequestError, match="not ready") as refused:
            versions.resolve()
        assert refused.value.status == 503
        await versions.stop()

    asyncio.run(scenario())


@pytest.mark.slow
def test_a_version_copied_in_under_load_is_swapped_in_with_no_failed_request(
    beam_export, tmp_path
):
    """Real exports: version 1 served while clients send; version 2 copied
    into the base folder (not atomically) becomes AVAILABLE, answers on
    /versions/2, version 1 ends, and every request is answered 200."""
    base = tmp_path / "base"
    shutil.copytree(beam_export, base / "1")
    app = create_app(models=[ModelSource("beam", base=base)], poll_seconds=0.2)
    statuses, stop = [], threading.Event()
    with LiveServer(app) as server:
        url = server.url + "/v1/models/beam"
        deadline = time.monotonic() + 60
        while httpx2.get(url).json()["model_version_status"][0]["state"] != "AVAILABLE":
            assert time.monotonic() < deadline
            time.sleep(0.1)

        def client():
            with httpx2.Client(timeout=60) as http:
                while not stop.is_set():
                    response = http.post(url + ":predict", json={"instances": ["a b"]})
                    statuses.append(response.status_code)

        clients = [threading.Thread(target=client) for _ in range(4)]
        for thread in clients:
            thread.start()
        time.sleep(1)
        shutil.copytree(beam_export, base / "2")
        deadline = time.monotonic() + 90
        while True:
            status = httpx2.get(url).json()["model_version_status"]
            if {s["version"]: s["state"] for s in status} == {
                "1": "END",
                "2": "AVAILABLE",
            }:
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        time.sleep(1)
        stop.set()
        for thread in clients:
            thread.join(60)
        on_two = httpx2.post(url + "/versions/2:predict", json={"instances": ["a b"]})
        on_one = httpx2.post(url + "/versions/1:predict", json={"instances": ["a b"]})
    assert len(statuses) > 20 and set(statuses) == {200}
    assert on_two.status_code == 200 and on_one.status_code == 404
