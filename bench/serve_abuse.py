"""The server against hostile and oversized requests, while normal clients keep sending.

Starts `python -m s2s_keras.serve MODEL` with its default flags (MODEL: a
preset's name, `summarize_debian` by default, or an export folder) on
127.0.0.1, and keeps `--clients` normal clients sending one description a
request. Then:

1. **Each hostile request** of `hostile_requests()` in turn (oversized
   bodies and row counts, settings out of range, NaN and Infinity literals,
   deep JSON, wrong types, odd Unicode, empty inputs, every signature):
   its status and time, the p50 and the longest latency of the normal
   requests in flight while it ran, the server's RSS after it, and whether
   the server still answers.
2. **A soak**: `--soak-s` seconds at concurrency `--concurrency`, one
   request in `--hostile-every` hostile (in turn), the rest normal: the
   count of 5xx answers, the normal requests' p99 (of their 200 answers) against the p99 of a run
   of normal requests alone at the same concurrency (measured first), and
   the RSS after the warm-up and after the soak.

`--source-repo` serves with another checkout's s2s_keras (an older commit's,
for before/after figures). Prints Markdown tables.

    python bench/serve_abuse.py
    python bench/serve_abuse.py --soak-s 600 --concurrency 32
    git worktree add /tmp/before 2ad20e5
    python bench/serve_abuse.py --source-repo /tmp/before --soak-s 0
"""

import argparse
import asyncio
import json
import os
import pathlib
import random
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import httpx2  # noqa: E402
import numpy as np  # noqa: E402
from serving import Server  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
NORMAL = [
    "A fast, light text editor for the terminal, with syntax highlighting.",
    "Command-line tool to download files over HTTP and FTP, resuming them.",
    "Library for reading and writing PNG images, with a small C interface.",
    "Python bindings for the SQLite database engine, with full-text search.",
    "Daemon that keeps the system clock in step with time servers.",
]
CAP = 96  # summarize_debian's export: max_length 24, max_target_length 4 x 24
LONG = (
    "This package provides a complete, portable implementation of a text "
    "editor with many features for programmers and writers alike. "
)


def hostile_requests():
    """`(name, signature path suffix, body bytes)` of every hostile request."""
    predict = ":predict"

    def body(value):
        return json.dumps(value).encode()

    def generate(**settings):
        return body(
            {"signature_name": "generate", "inputs": {"text": [NORMAL[0]], **settings}}
        )

    deep = 50_000
    return [
        ("20,000 rows", predict, body({"instances": ["a text"] * 20_000})),
        ("2,000 long texts", predict, body({"instances": [LONG * 4] * 2_000})),
        ("256 long texts (max rows)", predict, body({"instances": [LONG * 30] * 256})),
        ("a 900 KB text", predict, body({"instances": ["word " * 180_000]})),
        (
            "score, a 600 KB target",
            predict,
            body(
                {
                    "signature_name": "score",
                    "inputs": {"source": ["a text"], "target": ["word " * 120_000]},
                }
            ),
        ),
        (
            "score, 256 rows of long targets",
            predict,
            body(
                {
                    "signature_name": "score",
                    "inputs": {"source": [LONG] * 256, "target": [LONG * 8] * 256},
                }
            ),
        ),
        ("generate, max_length 100000", predict, generate(max_length=100_000)),
        (
            "generate, min_length = max_length = 256, 32 rows",
            predict,
            body(
                {
                    "signature_name": "generate",
                    "inputs": {
                        "text": [NORMAL[1]] * 32,
                        "max_length": 256,
                        "min_length": 256,
                    },
                }
            ),
        ),
        (
            f"generate, min_length = max_length = {CAP} (the cap), 32 rows",
            predict,
            body(
                {
                    "signature_name": "generate",
                    "inputs": {
                        "text": [NORMAL[1]] * 32,
                        "max_length": CAP,
                        "min_length": CAP,
                    },
                }
            ),
        ),
        (
            f"generate, 85 rows at the cap ({85 * CAP:,} tokens), n-gram blocking",
            predict,
            body(
                {
                    "signature_name": "generate",
                    "inputs": {
                        "text": [NORMAL[3]] * 85,
                        "max_length": CAP,
                        "min_length": CAP,
                        "no_repeat_ngram_size": 3,
                    },
                }
            ),
        ),
        (
            f"generate, 86 rows at the cap ({86 * CAP:,} tokens)",
            predict,
            body(
                {
                    "signature_name": "generate",
                    "inputs": {
                        "text": [NORMAL[2]] * 86,
                        "max_length": CAP,
                        "min_length": CAP,
                    },
                }
            ),
        ),
        ("generate, min_length 100000", predict, generate(min_length=100_000)),
        ("generate, repetition_penalty 0", predict, generate(repetition_penalty=0)),
        (
            "generate, NaN literal",
            predict,
            b'{"signature_name": "generate", "inputs": {"text": ["a"], '
            b'"length_penalty": NaN}}',
        ),
        (
            "generate, Infinity literal",
            predict,
            b'{"signature_name": "generate", "inputs": {"text": ["a"], '
            b'"repetition_penalty": Infinity}}',
        ),
        ("generate, 1e39 (float32 overflow)", predict, generate(length_penalty=1e39)),
        (
            "generate_ids, 1 row of 100,000 ids",
            predict,
            body(
                {
                    "signature_name": "generate_ids",
                    "inputs": {"source_ids": [[7] * 100_000]},
                }
            ),
        ),
        (
            "generate_ids, an id outside the vocabulary",
            predict,
            body(
                {
                    "signature_name": "generate_ids",
                    "inputs": {"source_ids": [[7, 10**9]]},
                }
            ),
        ),
        (
            "detokenize, 1 row of 100,000 ids",
            predict,
            body(
                {
                    "signature_name": "detokenize",
                    "inputs": {"target_ids": [[9] * 100_000]},
                }
            ),
        ),
        (
            "tokenize, 256 long texts",
            predict,
            body({"signature_name": "tokenize", "inputs": {"text": [LONG * 30] * 256}}),
        ),  # fmt: skip
        (
            "attention, 256 long texts",
            predict,
            body(
                {"signature_name": "attention", "inputs": {"text": [LONG * 30] * 256}}
            ),
        ),  # fmt: skip
        ("deeply nested JSON", predict, b"[" * deep + b"]" * deep),
        ("nested instances", predict, body({"instances": [[[["a"]]]]})),
        ("wrong types", predict, body({"instances": [{"text": 7}]})),
        ("instances an object", predict, body({"instances": {"a": 1}})),
        ("a number for max_length", predict, generate(max_length="twelve")),
        ("2**40 for max_length", predict, generate(max_length=2**40)),
        ("invalid UTF-8 body", predict, b'{"instances": ["\xff\xfe"]}'),
        (
            "odd Unicode",
            predict,
            body(
                {
                    "instances": [
                        "\ud800 lone surrogate",
                        "\u202eRTL override",
                        "zero\u200bwidth\u200djoiner",
                        "\x00 NUL \x07 bell",
                        "🙂" * 500,
                        "\ufeff" * 1000,
                    ]
                }
            ),
        ),
        ("empty instances", predict, body({"instances": []})),
        ("an empty text", predict, body({"instances": [""]})),
        ("an empty body", predict, b""),
        ("a body over 1 MiB", predict, body({"instances": ["x" * 1_200_000]})),
        (
            "an unknown signature",
            predict,
            body({"signature_name": "x", "instances": ["a"]}),
        ),  # fmt: skip
    ]


def rss_mb(pid):
    """The process's resident memory, in MB (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None


class Normal:
    """Normal clients sending one description a request, with their latencies."""

    def __init__(self, client, count):
        self.client, self.count = client, count
        self.done = []  # (start, latency, status)
        self.running = False

    async def loop(self):
        while self.running:
            start = time.perf_counter()
            text = random.choice(NORMAL)
            try:
                response = await self.client.post(
                    "/v1/models/m:predict", json={"instances": [text]}
                )
                status = response.status_code
            except httpx2.HTTPError:
                status = "failed"
            self.done.append((start, time.perf_counter() - start, status))

    def start(self):
        self.running = True
        self.tasks = [asyncio.ensure_future(self.loop()) for _ in range(self.count)]

    async def stop(self):
        self.running = False
        await asyncio.gather(*self.tasks)

    def overlapping(self, begin, end):
        """`(latency, status)` of the requests in flight at some time in [begin, end)."""
        return [
            (latency, status)
            for start, latency, status in self.done
            if start < end and start + latency > begin
        ]


def percentiles(latencies):
    if not latencies:
        return "-", "-"
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    return f"{p50:.0f}", f"{p99:.0f}"


async def send(client, suffix, content, timeout):
    start = time.perf_counter()
    try:
        response = await client.post(
            "/v1/models/m" + suffix,
            content=content,
            headers={"content-type": "application/json"},
            timeout=timeout,
        )
        status, text = response.status_code, response.text[:90]
    except httpx2.TimeoutException:
        status, text = "timeout", ""
    except httpx2.HTTPError as error:
        status, text = "failed", type(error).__name__
    return status, time.perf_counter() - start, text


async def hostile_round(server, clients, timeout):
    """Each hostile request in turn beside the normal clients; prints a table row
    for each once all are done (the normal requests in flight during it)."""
    limits = httpx2.Limits(max_connections=clients + 4)
    async with httpx2.AsyncClient(
        base_url=server.url, limits=limits, timeout=300
    ) as client:
        normal = Normal(client, clients)
        normal.start()
        await asyncio.sleep(3)  # the normal clients' pace before the first
        windows = []
        for name, suffix, content in hostile_requests():
            begin = time.perf_counter()
            status, seconds, _ = await send(client, suffix, content, timeout)
            alive = server.process.poll() is None
            rss = rss_mb(server.process.pid) or 0
            windows.append((name, begin, begin + seconds, status, seconds, rss, alive))
            print(f"  {name}: {status} in {seconds:.2f} s", flush=True)
            if not alive:
                break
        await normal.stop()
    print()
    print("| hostile request | status | seconds | normal p50 ms | normal max ms | "
          "normal not 200 | RSS MB | answers after |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, begin, end, status, seconds, rss, alive in windows:
        beside = normal.overlapping(begin, end)
        latencies = [latency for latency, _ in beside]
        p50 = percentiles(latencies)[0]
        longest = f"{max(latencies) * 1000:.0f}" if latencies else "-"
        bad = sum(status != 200 for _, status in beside)
        print(f"| {name} | {status} | {seconds:.2f} | {p50} | {longest} | {bad} | "
              f"{rss:.0f} | {'yes' if alive else 'NO'} |")  # fmt: skip


async def run_for(client, seconds, concurrency, hostile_every, hostile):
    """Requests for `seconds` at `concurrency`: `(latency, status)` of the
    normal ones, and every status."""
    normal, statuses = [], []
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def loop():
        while time.perf_counter() < deadline:
            number = next(counter)
            if hostile_every and number % hostile_every == hostile_every - 1:
                _, suffix, content = hostile[(number // hostile_every) % len(hostile)]
                status, _, _ = await send(client, suffix, content, 120)
            else:
                body = json.dumps({"instances": [random.choice(NORMAL)]}).encode()
                status, latency, _ = await send(client, ":predict", body, 120)
                normal.append((latency, status))
            statuses.append(status)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return normal, statuses


async def soak(server, seconds, concurrency, hostile_every):
    hostile = hostile_requests()
    limits = httpx2.Limits(max_connections=concurrency)
    async with httpx2.AsyncClient(
        base_url=server.url, limits=limits, timeout=120
    ) as client:
        await run_for(client, 10, concurrency, 0, hostile)  # warm-up
        warm = rss_mb(server.process.pid)
        unloaded, _ = await run_for(client, 60, concurrency, 0, hostile)
        loaded, statuses = await run_for(
            client, seconds, concurrency, hostile_every, hostile
        )
        after = rss_mb(server.process.pid)
    errors = sum(isinstance(s, int) and s >= 500 for s in statuses)
    failed = sum(not isinstance(s, int) for s in statuses)
    counts = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    # The latencies of answers: a refusal (429) is quick, and would hide a wait.
    answered = {
        run: [latency for latency, status in requests if status == 200]
        for run, requests in (("alone", unloaded), ("soak", loaded))
    }
    refused = sum(status != 200 for _, status in loaded)
    p99_unloaded = np.percentile(answered["alone"], 99) * 1000
    p99_loaded = np.percentile(answered["soak"], 99) * 1000
    print(f"\nSoak: {seconds} s at concurrency {concurrency}, one request in "
          f"{hostile_every} hostile: {len(statuses)} requests, statuses {counts}\n")  # fmt: skip
    print("| figure | value |\n|---|---|")
    print(f"| 5xx answers | {errors} |")
    print(f"| requests without an answer | {failed} |")
    print(f"| normal p99, alone (60 s) | {p99_unloaded:.0f} ms |")
    print(f"| normal p99, in the soak | {p99_loaded:.0f} ms ({p99_loaded / p99_unloaded:.2f}x) |")  # fmt: skip
    print(f"| normal p50, alone / in the soak | {np.percentile(answered['alone'], 50) * 1000:.0f} / {np.percentile(answered['soak'], 50) * 1000:.0f} ms |")  # fmt: skip
    print(f"| normal requests not answered 200 in the soak | {refused} of {len(loaded)} |")  # fmt: skip
    print(f"| RSS after the warm-up | {warm:.0f} MB |")
    print(f"| RSS after the soak | {after:.0f} MB ({after / warm:.2f}x) |")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="summarize_debian", help="a preset's name or an export folder (default: %(default)s)")  # fmt: skip
    parser.add_argument("--source-repo", type=pathlib.Path, default=ROOT, help="the checkout whose s2s_keras serves (default: this one)")  # fmt: skip
    parser.add_argument("--clients", type=int, default=4, help="normal clients beside each hostile request (default: %(default)s)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=60, help="seconds a hostile request is given (default: %(default)s)")  # fmt: skip
    parser.add_argument("--soak-s", type=int, default=600, help="the soak's seconds; 0 for none (default: %(default)s)")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=32, help="the soak's requests in flight (default: %(default)s)")  # fmt: skip
    parser.add_argument("--hostile-every", type=int, default=10, help="one soak request in this many is hostile (default: %(default)s)")  # fmt: skip
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    random.seed(0)
    os.environ["PYTHONPATH"] = str(args.source_repo)
    os.environ.setdefault("S2S_KERAS_PRESETS", str(ROOT / "saved_models"))
    model = args.model
    if pathlib.Path(model).exists():
        model = str(pathlib.Path(model).resolve())
    os.chdir(args.source_repo)  # `python -m` puts the working folder first
    with Server(model) as server:
        print(f"Serving {args.model} with {args.source_repo}'s s2s_keras, default flags; "
              f"RSS after loading {rss_mb(server.process.pid):.0f} MB\n")  # fmt: skip
        asyncio.run(hostile_round(server, args.clients, args.timeout))
        if args.soak_s and server.process.poll() is None:
            asyncio.run(soak(server, args.soak_s, args.concurrency, args.hostile_every))


if __name__ == "__main__":
    main()
