"""The `generate` signature at its length cap: peak memory and time, before and after.

Exports a preset (default `summarize_debian`: beam 4) with the s2s_keras of
`--source-repo` (this checkout by default; pass a checkout of an older
commit for the "before" figures), then calls its SavedModel's `generate`
signature in a fresh process that imports only TensorFlow, on `--rows`
copies of a long description, with `min_length = max_length = L` for each
`--lengths` L, and n-gram blocking off and on. Each call runs in its own
process, so its peak RSS (`ru_maxrss`) is its own; the process's RSS after
loading the SavedModel is printed beside it.

    python bench/generate_bounds.py
    git worktree add /tmp/before 2ad20e5
    python bench/generate_bounds.py --source-repo /tmp/before --lengths 256 512
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = pathlib.Path(__file__).resolve().parents[1]
TEXT = (
    "A fast, light text editor for the terminal, with syntax highlighting for "
    "many languages, multiple cursors, a plugin system and a built-in file "
    "browser. It reads and writes files in any encoding and keeps an undo "
    "history across sessions."
)

CALL = """
import json, resource, sys, time
import tensorflow as tf
import tensorflow_text  # noqa: F401
export, rows, length, ngram = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
model = tf.saved_model.load(export)
generate = model.signatures["generate"]
def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
loaded = rss_mb()
inputs = dict(
    text=tf.constant([sys.argv[5]] * rows), target_prefix=tf.constant([""] * rows),
    max_length=tf.constant(length), min_length=tf.constant(length),
    no_repeat_ngram_size=tf.constant(ngram), repetition_penalty=tf.constant(1.0),
    length_penalty=tf.constant(1.5), coverage_penalty=tf.constant(0.0))
result = {"rows": rows, "length": length, "ngram": ngram, "loaded_mb": round(loaded)}
try:
    start = time.perf_counter()
    found = generate(**inputs)
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["words"] = max(len(t.split()) for t in found["text"].numpy())
except tf.errors.InvalidArgumentError as error:
    result["rejected"] = error.message.split("assertion failed:")[-1].split("\\n")[0][:120]
result["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(result))
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="summarize_debian", help="the preset exported (default: %(default)s)")  # fmt: skip
    parser.add_argument("--source-repo", type=pathlib.Path, default=ROOT, help="the checkout whose s2s_keras exports it (default: this one)")  # fmt: skip
    parser.add_argument("--rows", type=int, default=32, help="texts in the call (default: %(default)s)")  # fmt: skip
    parser.add_argument("--lengths", type=int, nargs="+", default=[256], help="max_length = min_length of each call (default: %(default)s)")  # fmt: skip
    parser.add_argument("--ngram", type=int, nargs="+", default=[0, 3], help="no_repeat_ngram_size of each call (default: %(default)s)")  # fmt: skip
    parser.add_argument("--timeout", type=int, default=900, help="seconds a call may take (default: %(default)s)")  # fmt: skip
    return parser.parse_args(argv)


def export(preset, source_repo, folder):
    """The preset's export folder, written by `source_repo`'s s2s_keras."""
    script = textwrap.dedent(f"""
        from s2s_keras import presets
        presets.load({preset!r}).export({str(folder)!r}, tflite=False)
    """)
    environment = {**os.environ, "PYTHONPATH": str(source_repo)}
    environment["S2S_KERAS_PRESETS"] = str(ROOT / "saved_models")
    subprocess.run(  # in the checkout: `python -c` puts the working folder first
        [sys.executable, "-c", script], check=True, env=environment, cwd=source_repo
    )
    return folder


def main(argv=None):
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        exported = export(args.preset, args.source_repo, pathlib.Path(folder) / "e")
        print(f"export of {args.preset} by {args.source_repo}", flush=True)
        for length in args.lengths:
            for ngram in args.ngram:
                command = [sys.executable, "-c", CALL, str(exported / "saved_model")]
                command += [str(args.rows), str(length), str(ngram), TEXT]
                try:
                    done = subprocess.run(
                        command, capture_output=True, text=True, timeout=args.timeout
                    )
                except subprocess.TimeoutExpired:
                    print(
                        json.dumps({"length": length, "ngram": ngram, "timeout": True})
                    )
                    continue
                lines = done.stdout.strip().splitlines()
                if done.returncode != 0 or not lines:
                    print(
                        json.dumps(
                            {
                                "length": length,
                                "ngram": ngram,
                                "exit": done.returncode,
                                "error": done.stderr.strip().splitlines()[-1:],
                            }
                        )
                    )
                    continue
                print(lines[-1], flush=True)


if __name__ == "__main__":
    main()
