"""The server under load: latency and throughput, one request at a time against 16.

Starts `python -m s2s_keras.serve` on an export of `recipes/summarize.py`
(default `saved_models/summarize`) on 127.0.0.1, and sends the recipe's test
sources, one text a request (`{"instances": [text]}`), from this process:

- one at a time (`--sequential` requests, concurrency 1): the baseline;
- `--requests` at concurrency `--concurrency`, with micro-batching (the
  server's defaults: batches of 32 at most, 5 ms to gather them);
- the same without it (`--max-batch-size 1`): each request its own call.

Each server is started afresh and warmed with 20 requests first. Prints p50
and p99 latency, requests per second and the ratio to the baseline, and
counts every answer that is not 200.

    python bench/serving.py --model saved_models/summarize
    python bench/serving.py --model saved_models/summarize --requests 500
"""

import argparse
import asyncio
import os
import pathlib
import socket
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import httpx2  # noqa: E402
import numpy as np  # noqa: E402
from summarizer_test_pairs import test_pairs  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=pathlib.Path, default=pathlib.Path("saved_models/summarize"), help="an export of recipes/summarize.py (default: %(default)s)")  # fmt: skip
    parser.add_argument("--requests", type=int, default=2000, help="requests of each concurrent run (default: %(default)s)")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight at once (default: %(default)s)")  # fmt: skip
    parser.add_argument("--sequential", type=int, default=200, help="requests of the one-at-a-time run (default: %(default)s)")  # fmt: skip
    parser.add_argument("--eval-pairs", type=int, default=1000, help="test sources sent, in turn (default: %(default)s)")  # fmt: skip
    return parser.parse_args(argv)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`python -m s2s_keras.serve` in a child process, on a free port."""

    def __init__(self, model, *flags):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "s2s_keras.serve", str(model), "--name", "m"]
        command += ["--port", str(self.port), "--log-level", "warning", *flags]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)

    def __enter__(self):
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the server exited")
            try:
                httpx2.get(self.url + "/v1/models/m", timeout=1)
                return self
            except httpx2.TransportError:
                time.sleep(0.3)
        raise RuntimeError("the server did not start")

    def __exit__(self, *exc_info):
        self.process.terminate()
        self.process.wait(60)


async def load(url, texts, requests, concurrency):
    """Latencies (s) of `requests` requests, `concurrency` at once; wall time; failures."""
    latencies, failures = [], []
    indices = iter(range(requests))

    async def client_loop(client):
        for index in indices:
            start = time.perf_counter()
            body = {"instances": [texts[index % len(texts)]]}
            response = await client.post("/v1/models/m:predict", json=body)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                failures.append(response.status_code)

    limits = httpx2.Limits(max_connections=concurrency)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        began = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        return np.array(latencies), time.perf_counter() - began, failures


def measure(model, texts, requests, concurrency, *flags):
    with Server(model, *flags) as server:
        asyncio.run(load(server.url, texts, 20, min(concurrency, 4)))  # warm-up
        return asyncio.run(load(server.url, texts, requests, concurrency))


def main(argv=None):
    args = parse_args(argv)
    texts, _ = test_pairs(args.eval_pairs)
    runs = [
        ("one at a time", args.sequential, 1, ()),
        (f"{args.concurrency} at a time, micro-batching", args.requests, args.concurrency, ()),
        (f"{args.concurrency} at a time, no batching", args.requests, args.concurrency, ("--max-batch-size", "1")),
    ]  # fmt: skip
    print(f"{args.model}: {len(texts)} test sources, one a request\n")
    print(
        "| run | requests | errors | p50 ms | p99 ms | requests/s | vs one at a time |"
    )
    print("|---|---|---|---|---|---|---|")
    baseline = None
    for name, requests, concurrency, flags in runs:
        latencies, seconds, failures = measure(
            args.model, texts, requests, concurrency, *flags
        )
        rate = requests / seconds
        baseline = baseline or rate
        p50, p99 = np.percentile(latencies * 1000, [50, 99])
        print(
            f"| {name} | {requests} | {len(failures)} | {p50:.0f} | {p99:.0f} | "
            f"{rate:.1f} | {rate / baseline:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
