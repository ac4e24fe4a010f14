"""Data at scale: memory, start-up and throughput against the corpus size.

Synthetic corpora of pairs shaped like Debian's package descriptions (each
pair's source and target word counts drawn from a real pair of the
`debian_descriptions` train split, its words drawn from that split's word
frequencies) at several sizes, each a `.jsonl` file read with `--data`, and
the real corpus itself. For each, two data paths feed the summarize
recipe's default model (256 units, copy and coverage, batch 64) one
training step at a time (the step `fit` runs):

- `before`: the path of the earlier releases: the whole file read into
  Python lists, split, the tokenizer learned from every training pair, the
  split turned into one `from_tensor_slices` dataset, tokenized, cached in
  memory and counted with a full pass before training;
- `stream`: `data.Splits`: the file prepared once into shuffled shards
  (timed apart, as `prepare`), the tokenizer learned from a bounded sample,
  the split streamed from the shards, no pass before training.

Each run is a process of its own: its peak resident memory (from the
kernel), its seconds from start to the end of the first training step, and
its tokens per second (source and target subwords that are not padding)
over the steps after a warm-up.

    python bench/data_scale.py                        # about 55 minutes on 2 cores
    python bench/data_scale.py --sizes 250000 --steps 60 --paths stream
"""

import argparse
import collections
import json
import os
import pathlib
import random
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = pathlib.Path(__file__).resolve().parents[1]
REAL = "debian"  # the real corpus, in place of a size


def synthesize(path, count, seed=0):
    """Writes `count` Debian-shaped pairs to a `.jsonl` file (once)."""
    if path.is_file():
        return
    from s2s_keras.data import load_corpus

    pairs = [
        (source.decode().split(), target.decode().split())
        for source, target in load_corpus("debian_descriptions").as_numpy_iterator()
    ]
    lengths = [(len(source), len(target)) for source, target in pairs]
    counts = collections.Counter(
        word for pair in pairs for side in pair for word in side
    )
    words, weights = list(counts), list(counts.values())
    rng = random.Random(seed)
    staged = path.with_name(f".{path.name}")
    with open(staged, "w", encoding="utf-8") as file:
        for start in range(0, count, 10_000):
            chunk = min(10_000, count - start)
            drawn = rng.choices(lengths, k=chunk)
            bag = iter(rng.choices(words, weights, k=sum(a + b for a, b in drawn)))
            for source_length, target_length in drawn:
                source = " ".join(next(bag) for _ in range(source_length))
                target = " ".join(next(bag) for _ in range(target_length))
                file.write(json.dumps({"source": source, "target": target}) + "\n")
    os.replace(staged, path)


def data_config(corpus):
    from s2s_keras.training.config import DataConfig

    if corpus == REAL:
        return DataConfig(corpus="debian_descriptions", vocab_size=4000)
    return DataConfig(data=corpus, vocab_size=4000)


def before_path(config, log):
    """Tokenizer and batches as the earlier releases made them."""
    import tensorflow as tf

    from s2s_keras.data import load_corpus
    from s2s_keras.data import make_batches
    from s2s_keras.data.files import read_pairs
    from s2s_keras.data.splits import split_of
    from s2s_keras.data.splits import text_key
    from s2s_keras.text import SubwordTokenizer

    if config.data:
        sources, targets = read_pairs(config.data, log=log)
        train = [
            pair
            for pair in zip(sources, targets, strict=True)
            if split_of(text_key(pair[0])) == "train"
        ]
    else:
        train = [
            (source.decode(), target.decode())
            for source, target in load_corpus(config.corpus).as_numpy_iterator()
        ]
    random.Random(0).shuffle(train)
    tokenizer = SubwordTokenizer.train(
        [text for pair in train for text in pair], vocab_size=config.vocab_size
    )
    sources, targets = zip(*train, strict=True)
    batches = make_batches(
        tf.data.Dataset.from_tensor_slices((list(sources), list(targets))),
        tokenizer,
        batch_size=64,
        max_source_length=96,
        max_target_length=24,
        shuffle=True,
        cache=True,
    )
    count = int(batches.reduce(0, lambda count, _: count + 1))
    return tokenizer, batches.apply(tf.data.experimental.assert_cardinality(count))


def stream_path(config, log):
    """Tokenizer and batches from `data.Splits`."""
    from s2s_keras.data.pairs import open_splits
    from s2s_keras.data.pairs import tokenizer_for

    splits = open_splits(config)
    folder = pathlib.Path(os.environ["BENCH_OUTPUT"]) / "tokenizer"
    tokenizer = tokenizer_for(folder, splits.sample(), config.vocab_size)
    batches = splits.batches(
        "train", tokenizer, 64, max_source_length=96, max_target_length=24, repeat=True
    )
    return tokenizer, batches


def peak_gib():
    """This process's peak resident memory so far (GiB), from the kernel."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def child(args):
    """One measured run; prints a JSON line of its figures."""
    start = float(os.environ["BENCH_START"])
    import numpy as np

    from s2s_keras.models import build_seq2seq
    from s2s_keras.models import compile_seq2seq
    from s2s_keras.training import tasks
    from s2s_keras.training.config import ModelConfig

    config = data_config(args.corpus)
    if args.child == "prepare":
        from s2s_keras.data.pairs import open_splits

        open_splits(config)
        print(json.dumps({"seconds": time.time() - start, "peak_gib": peak_gib()}))
        return
    make = before_path if args.child == "before" else stream_path
    tokenizer, batches = make(config, log=lambda message: None)
    defaults = tasks.get("summarize").defaults
    model_config = ModelConfig(
        **{key: defaults[key] for key in ("embedding_dim", "units", "copy", "coverage")}
    )
    model = build_seq2seq(
        tokenizer.vocab_size, tokenizer.vocab_size, **model_config.build_arguments()
    )
    compile_seq2seq(model)
    first = None
    tokens, timed_from = 0, None
    batches = batches.repeat() if args.child == "before" else batches
    for step, (inputs, labels) in enumerate(batches.take(args.steps)):
        model.train_on_batch(inputs, labels)
        if step == 0:
            first = time.time() - start
        if step == args.warmup:
            timed_from = time.perf_counter()
        elif step > args.warmup:
            tokens += int(np.count_nonzero(inputs["source_ids"])) + int(
                np.count_nonzero(labels)
            )
    seconds = time.perf_counter() - timed_from
    figures = {"first_step": first, "tokens_per_second": tokens / seconds}
    print(json.dumps({**figures, "peak_gib": peak_gib()}))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default=f"{REAL},250000,1000000,4000000", help="synthetic corpus sizes in pairs, and 'debian' for the real corpus (default: %(default)s)")  # fmt: skip
    parser.add_argument("--paths", default="before,stream", help="the data paths measured (default: %(default)s)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=220, help="training steps a run (default: %(default)s)")  # fmt: skip
    parser.add_argument("--warmup", type=int, default=20, help="steps before tokens/s is timed (default: %(default)s)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=25.0, help="minutes a run may take (default: %(default)s)")  # fmt: skip
    parser.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("/tmp/s2s_keras_data_scale"), help="synthetic corpora and prepared shards (default: %(default)s)")  # fmt: skip
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("S2S_KERAS_DATA", str(args.workdir / "cache"))
    for part in ("corpora", "apt"):  # the real corpus: the user's cache
        link = pathlib.Path(os.environ["S2S_KERAS_DATA"]) / part
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(pathlib.Path.home() / ".cache" / "s2s_keras" / part)
    rows = []
    for size in args.sizes.split(","):
        corpus = REAL if size == REAL else args.workdir / f"pairs-{int(size)}.jsonl"
        if corpus != REAL:
            print(f"Writing {int(size):,} synthetic pairs to {corpus} ...", flush=True)
            synthesize(corpus, int(size))
        if "stream" in args.paths:
            prepared = run_child("prepare", corpus, args, args.workdir)
            print(f"{size}: prepare {prepared}", flush=True)
        for path in args.paths.split(","):
            output = args.workdir / f"run-{size}-{path}"
            output.mkdir(exist_ok=True)
            for stale in output.glob("tokenizer/*"):
                stale.unlink()
            figures = run_child(path, corpus, args, output)
            print(f"{size}: {path} {figures}", flush=True)
            rows.append((size, path, figures))
    print_table(rows)
    return rows


def run_child(kind, corpus, args, output):
    """Runs a child (`prepare`, `before` or `stream`) to its end or the timeout.

    Returns:
        Its figures (a dict with its peak memory), or `{"failed": why}`.
    """
    command = [sys.executable, __file__, "--child", kind, "--corpus", str(corpus)]
    command += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    env = {
        **os.environ,
        "BENCH_START": repr(time.time()),
        "BENCH_OUTPUT": str(output),
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        stdout, stderr = process.communicate(timeout=args.timeout * 60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return {"failed": f"did not finish in {args.timeout:g} minutes"}
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if process.returncode or not lines:
        return {"failed": (stderr.strip().splitlines() or ["?"])[-1][-300:]}
    return json.loads(lines[-1])


def print_table(rows):
    def cell(figures, key, form):
        return form.format(figures[key]) if key in figures else "-"

    lines = [
        "| pairs | data path | peak memory (GiB) | seconds to the first step | tokens/s |",
        "|---|---|---|---|---|",
    ]
    for size, path, figures in rows:
        label = "debian_descriptions" if size == REAL else f"{int(size):,}"
        if "failed" in figures:
            lines.append(f"| {label} | {path} | failed: {figures['failed']} | | |")
            continue
        lines.append(
            f"| {label} | {path} | {cell(figures, 'peak_gib', '{:.2f}')} | "
            f"{cell(figures, 'first_step', '{:.0f}')} | "
            f"{cell(figures, 'tokens_per_second', '{:,.0f}')} |"
        )
    print("\n" + "\n".join(lines))
    by = {(size, path): figures for size, path, figures in rows}
    sizes = [
        size for size in dict.fromkeys(size for size, _, _ in rows) if size != REAL
    ]
    if len(sizes) > 1 and all((s, "stream") in by for s in sizes):
        small, large = by[(sizes[0], "stream")], by[(sizes[-1], "stream")]
        if "peak_gib" in small and "peak_gib" in large:
            print(
                f"\nstream, {sizes[-1]} against {sizes[0]} pairs: peak memory "
                f"{large['peak_gib'] / small['peak_gib']:.2f}x, first step "
                f"{large['first_step'] / small['first_step']:.2f}x"
            )
    if (REAL, "before") in by and (REAL, "stream") in by:
        before, stream = by[(REAL, "before")], by[(REAL, "stream")]
        if "tokens_per_second" in before and "tokens_per_second" in stream:
            ratio = stream["tokens_per_second"] / before["tokens_per_second"]
            print(f"debian_descriptions tokens/s, stream against before: {ratio:.2f}x")


if __name__ == "__main__":
    main()
