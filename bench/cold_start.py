"""Cold start: a preset's first answer, and a server's, from a fresh process.

1. `presets.load(NAME)` and its first answer: a new Python process that
   imports s2s_keras, loads the preset and summarizes one text; the time from
   starting the process to the answer.
2. `python -m s2s_keras.serve NAME`: the time from starting the server to
   its first answer to a `:predict` request.

Each is run once untimed (so the files are in the operating system's cache,
as on a machine that has run it before), then `--repeats` times; the median
is printed. Targets: <= 5 s and <= 10 s.

    python bench/cold_start.py                      # about 2 minutes on 2 cores
    python bench/cold_start.py --preset translate_en_it --repeats 5
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

from serving import free_port

TEXT = "GNU Emacs is the extensible, customizable, self-documenting display editor."
TARGETS = {"load and first answer": 5.0, "server until it answers": 10.0}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Prints a Markdown table: the median seconds of each and its target.",
    )
    parser.add_argument("--preset", default="summarize_debian", help="a preset name")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each")
    return parser.parse_args(argv)


def environment():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def load_and_answer(preset):
    """Seconds from starting a process to the preset's first answer."""
    script = (
        f"from s2s_keras import presets\nprint(presets.load({preset!r})({TEXT!r}))\n"
    )
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment(),
        check=False,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0 or not result.stdout.strip():
        raise RuntimeError(result.stderr[-2000:])
    return seconds


def serve_and_answer(preset, timeout=300):
    """Seconds from starting the server to its first answer."""
    port = free_port()
    body = json.dumps({"instances": [TEXT]}).encode()
    start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "s2s_keras.serve", preset, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=environment(),
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


def main(argv=None):
    args = parse_args(argv)
    figures = {}
    for label, measure in [
        ("load and first answer", load_and_answer),
        ("server until it answers", serve_and_answer),
    ]:
        measure(args.preset)  # the files into the operating system's cache
        times = [measure(args.preset) for _ in range(args.repeats)]
        figures[label] = times
        print(
            f"{label}: " + ", ".join(f"{seconds:.1f}" for seconds in times), flush=True
        )
    print(f"\n{args.preset}, median of {args.repeats}:\n")
    print("| from a fresh process | seconds | target |")
    print("|---|---|---|")
    for label, times in figures.items():
        print(f"| {label} | {statistics.median(times):.1f} | <= {TARGETS[label]:.0f} |")


if __name__ == "__main__":
    main()
