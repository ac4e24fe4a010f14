"""The server's operations under load: versions swapped in, and REST against gRPC.

1. **Versions under load**: a base folder with version 1 of an export is
   served (`--poll-seconds 1`, the latest version); `--concurrency` clients
   send one text a request for `--swap-s` seconds while a new version (a
   copy of the export) is dropped into the folder every `--every-s` seconds.
   Counts every answer that is not 200 and the versions that became
   `AVAILABLE`.
2. **REST against gRPC**: the same export, `--requests` requests at
   `--concurrency`, once over REST (`:predict`) and once over gRPC
   (`PredictionService/Predict`, the official stubs): p50, p99, requests/s.

    python bench/serving_versions.py                     # summarize_debian, about 5 minutes
    python bench/serving_versions.py --model saved_models/summarize
"""

import argparse
import asyncio
import os
import pathlib
import shutil
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import grpc  # noqa: E402
import httpx2  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from serving import Server  # noqa: E402
from serving import free_port  # noqa: E402
from serving import load  # noqa: E402
from tensorflow_serving.apis import predict_pb2  # noqa: E402
from tensorflow_serving.apis import prediction_service_pb2_grpc  # noqa: E402

from s2s_keras.data import python_summaries  # noqa: E402


def export_folder(model):
    if (pathlib.Path(model) / "saved_model").is_dir():
        return pathlib.Path(model)
    from s2s_keras.presets.exports import cached_export

    return cached_export(model)


def copy_version(export, base, number):
    """A version folder as a copy would make it: SavedModel, then export.json."""
    shutil.copytree(export / "saved_model", base / str(number) / "saved_model")
    shutil.copy(export / "export.json", base / str(number) / "export.json")


def states(url):
    answer = httpx2.get(url, timeout=10).json()
    return {s["version"]: s["state"] for s in answer.get("model_version_status", [])}


async def clients_until(url, texts, concurrency, stop):
    statuses = []

    async def loop(client):
        index = 0
        while not stop.is_set():
            body = {"instances": [texts[index % len(texts)]]}
            index += 1
            try:
                response = await client.post("/v1/models/m:predict", json=body)
                statuses.append(response.status_code)
            except httpx2.HTTPError as error:
                statuses.append(type(error).__name__)

    limits = httpx2.Limits(max_connections=concurrency)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        await asyncio.gather(*(loop(client) for _ in range(concurrency)))
    return statuses


async def swap_under_load(export, texts, seconds, every, concurrency):
    base = pathlib.Path(tempfile.mkdtemp(prefix="versions.")) / "m"
    copy_version(export, base, 1)
    with Server(base, "--poll-seconds", "1") as server:
        url = server.url + "/v1/models/m"
        while states(url).get("1") != "AVAILABLE":
            await asyncio.sleep(0.5)
        stop = asyncio.Event()
        clients = asyncio.ensure_future(
            clients_until(server.url, texts, concurrency, stop)
        )
        began, number, seen = time.monotonic(), 1, set()
        while time.monotonic() - began < seconds:
            await asyncio.sleep(every)
            number += 1
            await asyncio.to_thread(copy_version, export, base, number)
            seen |= {v for v, s in states(url).items() if s in ("AVAILABLE", "END")}
        await asyncio.sleep(10)  # the last one loads
        seen |= {v for v, s in states(url).items() if s in ("AVAILABLE", "END")}
        stop.set()
        statuses = await clients
        final = states(url)
    shutil.rmtree(base.parent, ignore_errors=True)
    failed = sum(status != 200 for status in statuses)
    print(f"\nVersions: {number - 1} dropped in, one every {every:g} s, for {seconds} s "
          f"at concurrency {concurrency}\n")  # fmt: skip
    print("| figure | value |\n|---|---|")
    print(f"| requests answered | {len(statuses)} |")
    print(f"| not answered 200 | {failed} |")
    print(f"| versions that became AVAILABLE (then END or serving) | {len(seen)} of {number} |")  # fmt: skip
    print(
        f"| serving at the end | {[v for v, s in final.items() if s == 'AVAILABLE']} |"
    )


async def grpc_load(port, texts, requests, concurrency):
    latencies, failures = [], []
    indices = iter(range(requests))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        async def loop():
            for index in indices:
                request = predict_pb2.PredictRequest()
                request.model_spec.name = "m"
                request.inputs["text"].CopyFrom(
                    tf.make_tensor_proto([texts[index % len(texts)]])
                )
                start = time.perf_counter()
                try:
                    await stub.Predict(request, timeout=120)
                except grpc.RpcError as error:
                    failures.append(error.code())
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return np.array(latencies), time.perf_counter() - began, failures


def rest_against_grpc(export, texts, requests, concurrency):
    port = free_port()
    with Server(export, "--grpc-port", str(port)) as server:
        asyncio.run(load(server.url, texts, 20, 4))  # warm-up
        asyncio.run(grpc_load(port, texts, 20, 4))
        runs = {
            "REST": asyncio.run(load(server.url, texts, requests, concurrency)),
            "gRPC": asyncio.run(grpc_load(port, texts, requests, concurrency)),
        }
    print(f"\nREST against gRPC: {requests} requests at concurrency {concurrency}\n")
    print("| protocol | errors | p50 ms | p99 ms | requests/s |\n|---|---|---|---|---|")
    for name, (latencies, seconds, failures) in runs.items():
        p50, p99 = np.percentile(latencies * 1000, [50, 99])
        print(f"| {name} | {len(failures)} | {p50:.0f} | {p99:.0f} | {requests / seconds:.1f} |")  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="summarize_debian", help="an export folder or a preset (default: %(default)s)")  # fmt: skip
    parser.add_argument("--swap-s", type=int, default=120, help="seconds of the versions run (default: %(default)s)")  # fmt: skip
    parser.add_argument("--every-s", type=float, default=5, help="seconds between two new versions (default: %(default)s)")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=32, help="clients at once (default: %(default)s)")  # fmt: skip
    parser.add_argument("--requests", type=int, default=1000, help="requests of each protocol's run (default: %(default)s)")  # fmt: skip
    args = parser.parse_args(argv)
    texts = [source for source, _ in python_summaries.summary_pairs()[0]]
    export = export_folder(args.model)
    asyncio.run(
        swap_under_load(export, texts, args.swap_s, args.every_s, args.concurrency)
    )
    rest_against_grpc(export, texts, args.requests, args.concurrency)


if __name__ == "__main__":
    main()
