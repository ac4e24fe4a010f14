"""Runs a recipe command and reports its scores, wall clock and peak memory.

The figures of docs/results.md's tables: the recipe runs in a child
process, its wall-clock time is taken around it and its peak resident
memory from the operating system (the largest of the process and its
children, `getrusage(RUSAGE_CHILDREN).ru_maxrss`); the scores are read from
the `metrics.json` it writes.

    python bench/default_run.py recipes/summarize.py
    python bench/default_run.py recipes/qa.py --no-copy --output /tmp/qa-no-copy
"""

import json
import pathlib
import resource
import subprocess
import sys
import time


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    start = time.monotonic()
    completed = subprocess.run([sys.executable, *argv])
    minutes = (time.monotonic() - start) / 60.0
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    if completed.returncode != 0:
        print(f"{' '.join(argv)} failed with exit code {completed.returncode}")
        return completed.returncode
    if "--output" in argv:
        output = pathlib.Path(argv[argv.index("--output") + 1])
    else:
        task = pathlib.Path(argv[0]).stem
        output = pathlib.Path("saved_models") / task
    summary = json.loads((output / "metrics.json").read_text())
    print(
        f"\n{' '.join(argv)}: {minutes:.1f} min wall clock, peak memory {peak_gb:.1f} GB"
    )
    print(
        f"training {summary['training_minutes']:.1f} min, {summary['epochs']} epochs; "
        f"pairs {summary['pairs']}"
    )
    for system, scores in summary["scores"].items():
        print(f"  {system}: " + ", ".join(f"{k} {v:.1f}" for k, v in scores.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
