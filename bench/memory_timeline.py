"""Where a command's memory peaks: its resident memory over time, by phase.

Runs a command (a recipe, typically), samples the resident memory of its
whole process tree every `--interval` seconds from /proc (the sum over the
process and its children, so work moved into a child process still counts),
and tags each sample with the last line the command printed. Prints the peak,
the line it came under, the largest sample of each phase (a phase starts at a
line matching one of `--phases`), and plots the timeline.

    python bench/memory_timeline.py --plot docs/memory_summarize.png -- \\
        python recipes/summarize.py --max-steps 200 --output /tmp/summarize
"""

import argparse
import os
import pathlib
import re
import subprocess
import threading
import time

PHASES = r"Preparing|Pairs:|Epoch 1/|Scoring|Generating|Export|TFLite|Wrote"
PAGE = os.sysconf("SC_PAGE_SIZE")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Everything after -- is the command to run.",
    )
    parser.add_argument(
        "--interval", type=float, default=0.25, help="seconds between samples"
    )
    parser.add_argument(
        "--phases", default=PHASES, help="regex of lines that start a phase"
    )
    parser.add_argument(
        "--plot", type=pathlib.Path, help="write the timeline to this PNG"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("give the command to run after --")
    return args


def tree_rss(root):
    """Bytes resident in `root` and all its descendants, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = (
                    pathlib.Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1]
                )
                children.setdefault(int(fields.split()[1]), []).append(int(entry))
            except OSError:
                continue
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        try:
            total += (
                int(pathlib.Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            )
        except OSError:
            continue
        pending += children.get(pid, [])
    return total


def main(argv=None):
    args = parse_args(argv)
    process = subprocess.Popen(
        args.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    last_line, samples, start = ["(start)"], [], time.monotonic()

    def read_lines():
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.strip():
                last_line[0] = line.strip()[:120]

    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    while process.poll() is None:
        samples.append((time.monotonic() - start, tree_rss(process.pid), last_line[0]))
        time.sleep(args.interval)
    reader.join()
    phases, phase = {}, "(start)"
    pattern = re.compile(args.phases)
    for _, rss, line in samples:
        if pattern.search(line):
            phase = line
        phases[phase] = max(phases.get(phase, 0), rss)
    seconds, peak, line = max(samples, key=lambda sample: sample[1])
    print(
        f"\nexit code {process.returncode}; peak {peak / 1e9:.2f} GB at {seconds:.0f} s, under: {line}"
    )
    print("\n| phase (the line that starts it) | peak GB |\n|---|---|")
    for name, rss in phases.items():
        print(f"| {name} | {rss / 1e9:.2f} |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(9, 3.5))
        axes.plot([s[0] for s in samples], [s[1] / 1e9 for s in samples])
        axes.set_xlabel("seconds")
        axes.set_ylabel("resident memory, GB (process tree)")
        axes.set_title(" ".join(args.command)[:90], fontsize=9)
        figure.tight_layout()
        figure.savefig(args.plot, dpi=120)
        print(f"\nWrote {args.plot}")
    return process.returncode


if __name__ == "__main__":
    raise SystemExit(main())
