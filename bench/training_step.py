"""The default summarizer's training step: before and after, side by side.

Times `model.fit` on real batches of the default `recipes/summarize.py` run
(Debian descriptions, its 4,000-piece vocabulary, batch 64, bucketed by
source length) for several builds of the step:

- the code of another commit (`--before REV`, default: the commit before
  coverage lost its token-by-token LSTM), checked out in a temporary git
  worktree and imported from there;
- this code, with and without coverage, with XLA (`jit_compile=True`),
  with `--precision mixed_bfloat16` and on the JAX backend;
- Keras's own composite of the same sizes (`bench/training.py`: Embedding,
  LSTM, `keras.layers.Attention`, Dense), on TensorFlow and on JAX.

Each build runs in its own process (so that two versions of s2s_keras never
meet), on the same batches saved to a temporary file: one untimed pass
traces every batch shape, then `--passes` timed passes. The processes take
turns for `--rounds` rounds, so that slow spells of a shared machine hit
all builds alike; the figure is the median.

Reported: target tokens per second (real tokens, padding not counted) and
the ratio to the first row; the fraction of this machine's matrix-multiply
rate the step reaches (its multiply-adds counted from the batch shapes,
backward pass = twice the forward; the rate of one large float32, or
bfloat16, matmul measured here); and coverage's cost over copy alone.

    python bench/training_step.py                 # about 15 minutes on 2 cores
    python bench/training_step.py --quick         # fewer batches and rounds
    python bench/training_step.py --before HEAD~3 --builds after,after-copy
    python bench/training_step.py --builds composite,after,after-copy,after-jax
    python bench/training_step.py --profile after   # where a step's time goes

`--profile BUILD` traces one pass of that build with TensorFlow's profiler
(the trace is kept in `--profile-dir`, for TensorBoard's profile plugin)
and prints the op time of the pass by part of the model: the encoder and
decoder LSTMs, attention, the read-out, the copy mixture, the loss and
metrics, the optimizer, the input pipeline, forward and backward apart.
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = pathlib.Path(__file__).resolve().parents[1]
BEFORE = "8523ec5"  # the step of the previous round: coverage ran the LSTM per token

# name -> (code, model and training options)
BUILDS = {
    "before": ("before", {}),
    "before-copy": ("before", {"coverage": False}),
    "after": ("after", {}),
    "after-copy": ("after", {"coverage": False}),
    "after-xla-copy": ("after", {"coverage": False, "jit_compile": True}),
    "after-bfloat16": ("after", {"precision": "mixed_bfloat16"}),
    "after-xla": ("after", {"jit_compile": True}),
    "composite": ("after", {"model": "composite"}),
    "after-jax": ("after", {"backend": "jax"}),
    "after-copy-jax": ("after", {"coverage": False, "backend": "jax"}),
    "composite-jax": ("after", {"model": "composite", "backend": "jax"}),
    "after-bfloat16-jax": ("after", {"precision": "mixed_bfloat16", "backend": "jax"}),
}
DESCRIPTIONS = {
    "before": "before: copy + coverage (the default)",
    "before-copy": "before: copy alone (--no-coverage)",
    "after": "after: copy + coverage, float32",
    "after-copy": "after: copy alone (--no-coverage), float32",
    "after-xla-copy": "after: copy alone, float32, XLA (jit_compile=True)",
    "after-bfloat16": "after: copy + coverage, mixed_bfloat16 (the default where AMX is)",
    "after-xla": "after: copy + coverage, float32, XLA",
    "composite": "Keras's own composite (bench/training.py), float32",
    "after-jax": "after: copy + coverage, float32, on JAX",
    "after-copy-jax": "after: copy alone, float32, on JAX",
    "composite-jax": "Keras's own composite, float32, on JAX",
    "after-bfloat16-jax": "after: copy + coverage, mixed_bfloat16, on JAX",
}


def real_batches(count, path):
    """Saves `count` training batches of the default summarize run to `path`."""
    import numpy as np

    from s2s_keras.data.pairs import open_splits
    from s2s_keras.data.pairs import tokenizer_for
    from s2s_keras.training import flags
    from s2s_keras.training import tasks

    task = tasks.get("summarize")
    args = flags.parse(flags.recipe_parser("", task), [])
    config = flags.run_config(args)
    splits = open_splits(config.data, 1, 0)
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = tokenizer_for(
            pathlib.Path(folder), splits.sample(), config.data.vocab_size
        )
    batches = splits.batches(
        "train",
        tokenizer,
        config.training.batch_size,
        max_source_length=config.data.max_source_length,
        max_target_length=config.data.max_target_length,
        repeat=True,
        seed=0,
    )
    arrays = {}
    for index, (inputs, labels) in enumerate(batches.take(count)):
        arrays[f"source_{index}"] = inputs["source_ids"].numpy()
        arrays[f"target_{index}"] = inputs["target_ids"].numpy()
        arrays[f"labels_{index}"] = labels.numpy()
    np.savez(path, vocab_size=tokenizer.vocab_size, count=count, **arrays)


def load_batches(path):
    """The saved batches: `(vocab_size, [(inputs, labels), ...])`."""
    import numpy as np

    saved = np.load(path)
    batches = [
        (
            {
                "source_ids": saved[f"source_{index}"],
                "target_ids": saved[f"target_{index}"],
            },
            saved[f"labels_{index}"],
        )
        for index in range(int(saved["count"]))
    ]
    return int(saved["vocab_size"]), batches


def time_build(path, options, passes, profile_dir=None):
    """In this process: seconds per timed pass of `fit` over the saved batches.

    With `profile_dir`, the last pass is traced by TensorFlow's profiler
    into that folder.
    """
    import keras
    import tensorflow as tf

    from s2s_keras import build_seq2seq
    from s2s_keras.models import compile_seq2seq

    keras.mixed_precision.set_global_policy(options.get("precision", "float32"))
    vocab_size, batches = load_batches(path)
    keras.utils.set_random_seed(0)
    if options.get("model") == "composite":
        from training import composite  # bench/training.py

        model = composite(vocab_size, embedding_dim=128, units=256)
        model.compile(  # compile_seq2seq's optimizer, the keras.io loss and metric
            keras.optimizers.Adam(2e-3, global_clipnorm=1.0),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    else:
        model = build_seq2seq(
            vocab_size,
            vocab_size,
            embedding_dim=128,
            units=256,
            copy=True,
            coverage=options.get("coverage", True),
        )
        compile_seq2seq(model)
    if options.get("jit_compile"):
        model.jit_compile = True  # the same loss and metrics, compiled by XLA

    def dataset():
        return tf.data.Dataset.from_generator(
            lambda: iter(batches),
            output_signature=(
                {
                    "source_ids": tf.TensorSpec((None, None), tf.int32),
                    "target_ids": tf.TensorSpec((None, None), tf.int32),
                },
                tf.TensorSpec((None, None), tf.int32),
            ),
        ).prefetch(2)

    model.fit(dataset(), epochs=1, verbose=0)  # traces every shape
    seconds = []
    for index in range(passes):
        traced = profile_dir is not None and index == passes - 1
        if traced:
            tf.profiler.experimental.start(str(profile_dir))
        start = time.perf_counter()
        model.fit(dataset(), epochs=1, verbose=0)
        seconds.append(time.perf_counter() - start)
        if traced:
            tf.profiler.experimental.stop()
    return seconds


PARTS = [  # (part, words of an op's name scope), the first that matches
    ("encoder LSTM", ["encoder"]),
    ("attention (coverage loop included)", ["attention"]),
    ("read-out matmul, 512 x vocabulary", ["output_projection"]),
    ("decoder LSTM", ["lstm"]),
    (
        "loss and metrics (softmax cross-entropy, accuracy)",
        ["compile_loss", "SparseSoftmax", "compile_metrics", "ArgMax", "accuracy"],
    ),
    ("copy mixture (gate, softmax, scatter, log)", ["decoder"]),
    (
        "optimizer (Adam, gradient clipping)",
        [
            "adam",
            "Adam",
            "clip",
            "global_norm",
            "AssignVariable",
            "AssignAdd",
            "AssignSub",
        ],
    ),
    ("input pipeline", ["Iterator", "iterator"]),
]


def part_of(operation):
    """The model part an op belongs to, from its name scope."""
    scope = re.sub(r"seq2seq\w*", "", operation)  # not the model's name
    for part, words in PARTS:
        if any(word in scope for word in words):
            return part
    return "other"


def profile_table(profile_dir):
    """Op self-time of the traced pass by model part, forward and backward.

    Reads the trace with TensorFlow's own converter (what TensorBoard's
    profile plugin shows as "framework op stats").
    """
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin

    paths = [str(path) for path in pathlib.Path(profile_dir).rglob("*.xplane.pb")]
    data, ok = _pywrap_profiler_plugin.xspace_to_tools_data(
        paths, "framework_op_stats", {}
    )
    if not ok:
        raise RuntimeError(f"could not read the trace in {profile_dir}: {data[:200]}")
    table = json.loads(data)[0]
    columns = [column["id"] for column in table["cols"]]
    times = {}
    for row in table["rows"]:
        op = dict(
            zip(
                columns, [cell["v"] if cell else None for cell in row["c"]], strict=True
            )
        )
        if op["type"] == "IDLE":
            continue
        direction = "backward" if "gradient_tape" in op["operation"] else "forward"
        key = part_of(op["operation"])
        times.setdefault(key, {"forward": 0.0, "backward": 0.0})
        times[key][direction] += op["total_self_time"]
    total = sum(sum(value.values()) for value in times.values())
    lines = [
        "| part | forward | backward | share of the op time |",
        "|---|---|---|---|",
    ]
    for key, value in sorted(times.items(), key=lambda item: -sum(item[1].values())):
        lines.append(
            f"| {key} | {value['forward'] / total:.0%} | {value['backward'] / total:.0%} "
            f"| {sum(value.values()) / total:.0%} |"
        )
    return "\n".join(lines)


def multiply_adds(path, units=256, embedding_dim=128):
    """Multiply-adds of one forward pass over the saved batches, from their shapes.

    The encoder and decoder LSTMs (input and recurrent products), attention
    (scores and contexts) and the read-out over `[s_t; c_t]`; the copy gate,
    embeddings and element-wise work are not counted.
    """
    vocab_size, batches = load_batches(path)
    total = 0
    for inputs, _ in batches:
        batch, source = inputs["source_ids"].shape
        target = inputs["target_ids"].shape[1]
        lstm = (embedding_dim + units) * 4 * units
        total += batch * (source + target) * lstm  # the two LSTMs
        total += 2 * batch * target * source * units  # scores and contexts
        total += batch * target * 2 * units * vocab_size  # the read-out
    return total


def matmul_rate(dtype="float32", size=2048, seconds=3.0):
    """This machine's multiply-adds per second on one large matmul."""
    import tensorflow as tf

    a = tf.random.normal((size, size), dtype=tf.float32)
    a = tf.cast(a, dtype)
    product = tf.function(lambda: tf.matmul(a, a))
    product()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        product().numpy()
        runs += 1
    return runs * size**3 / (time.perf_counter() - start)


def real_tokens(path):
    _, batches = load_batches(path)
    return sum(int((labels != 0).sum()) for _, labels in batches)


def worktree(rev, folder):
    """A detached git worktree of `rev` in `folder` (removed by the caller)."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), rev],
        check=True,
        capture_output=True,
    )


def run_child(code_root, path, options, passes, profile_dir=None):
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    job = {"path": str(path), "options": options, "passes": passes}
    if profile_dir:
        job["profile_dir"] = str(profile_dir)
    completed = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(job)],
        env=env,
        capture_output=True,
        text=True,
        cwd=str(code_root),
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the timing process failed:\n{completed.stderr[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    if not pathlib.Path(result["code"]).resolve().is_relative_to(code_root.resolve()):
        raise RuntimeError(f"timed {result['code']}, not the code in {code_root}")
    return result["seconds"]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument(
        "--before",
        default=BEFORE,
        help="the commit to compare with (default: %(default)s)",
    )
    parser.add_argument(
        "--builds",
        default=",".join(BUILDS),
        help="comma-separated builds to time, the first the baseline (default: all)",
    )
    parser.add_argument(
        "--batches",
        type=int,
        default=24,
        help="real batches per pass (default: %(default)s)",
    )
    parser.add_argument(
        "--passes",
        type=int,
        default=2,
        help="timed passes per build and round (default: %(default)s)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="rounds of taking turns (default: %(default)s)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="8 batches, 1 pass, 1 round"
    )
    parser.add_argument(
        "--profile",
        metavar="BUILD",
        help="trace a pass of BUILD and print where its time goes, instead of timing builds",
    )
    parser.add_argument(
        "--profile-dir",
        default="bench-profile",
        help="where --profile keeps the trace (default: %(default)s)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        job = json.loads(args.child)
        # The backend is chosen before Keras is imported.
        os.environ["KERAS_BACKEND"] = job["options"].get("backend", "tensorflow")
        import s2s_keras

        seconds = time_build(
            job["path"], job["options"], job["passes"], job.get("profile_dir")
        )
        print(json.dumps({"seconds": seconds, "code": s2s_keras.__file__}))
        return 0
    if args.quick:
        args.batches, args.passes, args.rounds = 8, 1, 1
    builds = [args.profile] if args.profile else args.builds.split(",")
    unknown = sorted(set(builds) - set(BUILDS))
    if unknown:
        parser.error(f"unknown builds {unknown}; choose from {sorted(BUILDS)}")
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        path = folder / "batches.npz"
        print(
            f"Reading {args.batches} training batches of the default run ...",
            flush=True,
        )
        real_batches(args.batches, path)
        if args.profile:
            code, options = BUILDS[args.profile]
            profile_dir = pathlib.Path(args.profile_dir).resolve() / args.profile
            shutil.rmtree(profile_dir, ignore_errors=True)
            root = ROOT if code == "after" else folder / "before"
            if code == "before":
                worktree(args.before, root)
            run_child(root, path, options, 1, profile_dir)
            print(
                f"\n{DESCRIPTIONS[args.profile]}: one pass of {args.batches} batches, "
                f"traced in {profile_dir}\n\n{profile_table(profile_dir)}"
            )
            return 0
        roots = {"after": ROOT}
        if any(BUILDS[name][0] == "before" for name in builds):
            worktree(args.before, folder / "before")
            roots["before"] = folder / "before"
        try:
            seconds = {name: [] for name in builds}
            for round_ in range(args.rounds):
                for name in builds:
                    code, options = BUILDS[name]
                    times = run_child(roots[code], path, options, args.passes)
                    seconds[name] += times
                    print(
                        f"round {round_ + 1}: {name} {min(times):.1f} s a pass",
                        flush=True,
                    )
        finally:
            if "before" in roots:
                subprocess.run(
                    [
                        "git",
                        "-C",
                        str(ROOT),
                        "worktree",
                        "remove",
                        "--force",
                        str(roots["before"]),
                    ],
                    capture_output=True,
                )
        tokens = real_tokens(path)
        work = 3 * multiply_adds(path)  # forward, and a backward of twice its cost
        rates = {"float32": matmul_rate("float32"), "bfloat16": matmul_rate("bfloat16")}
    print(
        f"\n{args.batches} batches of 64 pairs, {tokens:,} real target tokens a pass; "
        f"median of {args.rounds * args.passes} passes. Matmul rate of this machine: "
        f"float32 {rates['float32'] / 1e9:,.0f}, bfloat16 {rates['bfloat16'] / 1e9:,.0f} "
        f"G multiply-adds/s (one {2048}x{2048} product).\n"
    )
    print("| build | target tokens/s | vs first | fraction of the matmul rate |")
    print("|---|---|---|---|")
    speeds = {}
    for name in builds:
        pass_seconds = statistics.median(seconds[name])
        speeds[name] = tokens / pass_seconds
        rate = rates["bfloat16" if "bfloat16" in name else "float32"]
        print(
            f"| {DESCRIPTIONS[name]} | {speeds[name]:,.0f} "
            f"| {speeds[name] / speeds[builds[0]]:.2f}x | {work / pass_seconds / rate:.0%} |"
        )
    for code in ("before", "after"):
        if code in speeds and f"{code}-copy" in speeds:
            print(
                f"\n{code}: a coverage step takes {speeds[f'{code}-copy'] / speeds[code]:.2f}x "
                "the time of a copy-alone step",
                end="",
            )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
