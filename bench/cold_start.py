"""Cold start: a preset's first answer, and a server's, from a fresh process.

1. `presets.load(NAME)` and its first answer: a new Python process that
   imports s2s_keras, loads the preset and summarizes one text; the time from
   starting the process to the answer.
2. `python -m s2s_keras.serve NAME`: the time from starting the server to
   its first answer to a `:predict` request, with the preset's export kept
   in the cache (as on every start but the first).
3. The same on a first start, which writes that export (an empty cache).

Each is run once untimed (so the files are in the operating system's cache,
as on a machine that has run it before), then `--repeats` times; the median
is printed. Targets: <= 5 s and <= 10 s.

    python bench/cold_start.py                      # about 2 minutes on 2 cores
    python bench/cold_start.py --preset translate_en_it --repeats 5
    python bench/cold_start.py --source-repo /tmp/before   # another checkout's code
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from serving import free_port

TEXT = "GNU Emacs is the extensible, customizable, self-documenting display editor."
TARGETS = {
    "load and first answer": 5.0,
    "server until it answers": 10.0,
    "server's first start": None,
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Prints a Markdown table: the median seconds of each and its target.",
    )
    parser.add_argument("--preset", default="summarize_debian", help="a preset name")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each")
    parser.add_argument(
        "--source-repo",
        help="the checkout whose s2s_keras the processes import (default: this one)",
    )
    return parser.parse_args(argv)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def environment(cache=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if cache:
        env["S2S_KERAS_CACHE"] = cache
    return env


def load_and_answer(preset, source_repo):
    """Seconds from starting a process to the preset's first answer (printed)."""
    script = (
        f"from s2s_keras import presets\n"
        f"print(presets.load({preset!r})({TEXT!r}), flush=True)\n"
    )
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=source_repo,  # the s2s_keras imported: the checkout's own
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    answer = process.stdout.readline()
    seconds = time.perf_counter() - start
    _, errors = process.communicate()
    if process.returncode != 0 or not answer.strip():
        raise RuntimeError(errors[-2000:])
    return seconds


def serve_and_answer(preset, source_repo, timeout=300, cache=None):
    """Seconds from starting the server to its first answer."""
    port = free_port()
    body = json.dumps({"instances": [TEXT]}).encode()
    start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "s2s_keras.serve", preset, "--port", str(port)],
        cwd=source_repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=environment(cache),
    )
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError(server.stderr.read().decode()[-2000:])
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/models/{preset}:predict",
                data=body,
                headers={"content-type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    json.loads(response.read())
                return time.perf_counter() - start
            except OSError:
                if time.perf_counter() - start > timeout:
                    raise
                time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(60)


def first_serve_and_answer(preset, source_repo):
    """Seconds from starting the server, with an empty cache, to its first answer."""
    with tempfile.TemporaryDirectory() as cache:
        return serve_and_answer(preset, source_repo, cache=cache)


def main(argv=None):
    args = parse_args(argv)
    source_repo = os.path.abspath(args.source_repo or ROOT)
    figures = {}
    for label, measure in [
        ("load and first answer", load_and_answer),
        ("server until it answers", serve_and_answer),
        ("server's first start", first_serve_and_answer),
    ]:
        measure(args.preset, source_repo)  # the files into the system's file cache
        times = [measure(args.preset, source_repo) for _ in range(args.repeats)]
        figures[label] = times
        print(
            f"{label}: " + ", ".join(f"{seconds:.1f}" for seconds in times), flush=True
        )
    print(f"\n{args.preset}, median of {args.repeats}:\n")
    print("| from a fresh process | seconds | target |")
    print("|---|---|---|")
    for label, times in figures.items():
        target = TARGETS[label] and f"<= {TARGETS[label]:.0f}"
        print(f"| {label} | {statistics.median(times):.1f} | {target or ''} |")


if __name__ == "__main__":
    main()
