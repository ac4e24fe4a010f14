"""Prepared shards: how pairs are written, streamed, shared by workers and sampled."""

import gzip
import json
import math
import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from s2s_keras.data import shards
from s2s_keras.data.files import prepare_files
from s2s_keras.data.pairs import open_splits
from s2s_keras.data.pairs import tokenizer_for
from s2s_keras.data.splits import SPLITS
from s2s_keras.data.splits import split_of
from s2s_keras.data.splits import text_key
from s2s_keras.training.config import DataConfig

ROOT = pathlib.Path(__file__).parents[2]


def quiet(message):
    pass


def decoded(dataset):
    return [(s.decode(), t.decode()) for s, t in dataset.as_numpy_iterator()]


def write_prepared(folder, pairs, counts, shuffle_seed=None):
    with shards.ShardedWriter(folder, counts, shuffle_seed) as writer:
        for source, target in pairs:
            writer.write("train", source, target)
    return shards.split_files(folder, "train")


def test_pairs_written_round_robin_stream_back_in_order(tmp_path):
    pairs = [(f"source {i}", f"target {i}") for i in range(103)]
    files = write_prepared(tmp_path / "prepared", pairs, {"train": 4})
    assert len(files) == 4
    assert decoded(shards.read_pairs(files)) == pairs
    manifest = shards.read_manifest(tmp_path / "prepared")
    assert manifest["splits"]["train"]["pairs"] == 103
    # Any TensorFlow program reads them: gzipped TFRecords of tf.train.Example.
    record = next(iter(tf.data.TFRecordDataset(files[1], "GZIP")))
    example = tf.io.parse_single_example(record, shards.FEATURES)
    assert example["source"].numpy().decode() == "source 1"
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_a_sorted_split_streams_back_shuffled_whole(tmp_path):
    pairs = [(f"source {i:04d}", f"target {i}") for i in range(2000)]
    files = write_prepared(tmp_path / "prepared", pairs, {"train": 5}, shuffle_seed=0)
    streamed = decoded(shards.read_pairs(files))
    assert sorted(streamed) == pairs  # every pair once
    first = [int(source.split()[1]) for source, _ in streamed[:200]]
    # The first 200 are a sample of the whole range, not its start.
    assert max(first) > 1500 and sum(first) / 200 == pytest.approx(1000, rel=0.2)


def test_workers_read_whole_files_or_share_a_single_one_element_wise(tmp_path):
    pairs = [(f"s{i}", f"t{i}") for i in range(40)]
    four = write_prepared(tmp_path / "four", pairs, {"train": 4})
    parts = [decoded(shards.read_pairs(four, 2, index)) for index in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(pairs)
    assert parts[0] == decoded(shards.read_pairs([four[0], four[2]]))  # by file
    one = write_prepared(tmp_path / "one", pairs, {"train": 1})
    parts = [decoded(shards.read_pairs(one, 2, index)) for index in range(2)]
    assert parts[0] == pairs[0::2] and parts[1] == pairs[1::2]
    # Fewer files than workers: every file is shared record by record.
    parts = [decoded(shards.read_pairs(four, 5, index)) for index in range(5)]
    assert sorted(sum(parts, [])) == sorted(pairs)
    assert [len(part) for part in parts] == [8] * 5


@pytest.mark.parametrize(
    "files, workers, pairs",
    [(7, 4, 7 * 13 + 5), (33, 2, 33 * 4 + 3), (3, 2, 31)],
    ids=["7-files-4-workers", "33-shards-2-workers", "3-files-2-workers"],
)
def test_every_worker_gets_an_equal_share_within_one_shards_rows(
    tmp_path, files, workers, pairs
):
    written = [(f"s{i}", f"t{i}") for i in range(pairs)]
    paths = write_prepared(tmp_path / "prepared", written, {"train": files})
    records = shards.split_records(tmp_path / "prepared", "train")
    parts = [
        decoded(shards.read_pairs(paths, workers, index, seed=1, records=records))
        for index in range(workers)
    ]
    assert sorted(sum(parts, [])) == sorted(written)  # each pair once
    sizes = [len(part) for part in parts]
    # Whole files dealt out, the rest shared record by record: the shares
    # differ by less than one shard's rows (and by one row here, where the
    # shards are written round-robin).
    assert max(sizes) - min(sizes) <= 1, sizes


def test_the_file_order_is_drawn_anew_each_pass_and_repeats_for_a_seed(tmp_path):
    written = [(f"s{i}", f"t{i}") for i in range(80)]
    paths = write_prepared(tmp_path / "prepared", written, {"train": 8})

    def file_order(stream):  # the file each of the first 8 pairs came from
        return [int(source[1:]) % 8 for source, _ in decoded(stream)[:8]]

    stream = shards.read_pairs(paths, seed=7)
    passes = [file_order(stream) for _ in range(3)]
    assert all(sorted(order) == list(range(8)) for order in passes)
    assert len({tuple(order) for order in passes}) == 3  # a new order each pass
    again = shards.read_pairs(paths, seed=7)
    assert [file_order(again) for _ in range(3)] == passes  # the same for the seed
    other = shards.read_pairs(paths, seed=8)
    assert file_order(other) != passes[0]
    assert file_order(shards.read_pairs(paths)) == list(range(8))  # no seed: stored


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_a_damaged_shard_stops_the_stream_naming_the_file(tmp_path, damage):
    written = [(f"source {i} " * 20, f"target {i}") for i in range(3000)]
    paths = write_prepared(tmp_path / "prepared", written, {"train": 3})
    records = shards.split_records(tmp_path / "prepared", "train")
    assert records == [1000, 1000, 1000]
    data = bytearray(pathlib.Path(paths[1]).read_bytes())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    else:
        for offset in range(len(data) // 2, len(data) // 2 + 40):
            data[offset] ^= 0xFF
    pathlib.Path(paths[1]).write_bytes(bytes(data))
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        decoded(shards.read_pairs(paths, records=records))
    assert "train-00001-of-00003.tfrecord.gz: read" in raised.value.message
    assert "its manifest says 1000" in raised.value.message


def letters(number):
    """A word for a number (split keys fold digits, so texts differ by words)."""
    word = ""
    while True:
        number, digit = divmod(number, 26)
        word += chr(ord("a") + digit)
        if not number:
            return word


def pairs_rows(count, start=0):
    return [
        {
            "text": f"document {letters(i)} about {letters(i % 7)}",
            "summary": letters(i % 7),
        }
        for i in range(start, start + count)
    ]


def write_jsonl(path, rows, compress=False):
    text = "".join(json.dumps(row) + "\n" for row in rows).encode()
    path.write_bytes(gzip.compress(text) if compress else text)
    return path


def test_a_glob_of_files_is_split_by_source_and_prepared_once(tmp_path):
    write_jsonl(tmp_path / "part-1.jsonl", pairs_rows(300))
    write_jsonl(tmp_path / "part-2.jsonl.gz", pairs_rows(300, 300), compress=True)
    messages = []
    pattern = str(tmp_path / "part-*")
    folder = prepare_files(pattern, "text", "summary", log=messages.append)
    assert "Read 300 pairs from" in messages[1] and "part-2.jsonl.gz" in messages[2]
    manifest = shards.read_manifest(folder)
    assert sum(manifest["splits"][split]["pairs"] for split in SPLITS) == 600
    for split in SPLITS:
        for source, _ in decoded(shards.read_pairs(shards.split_files(folder, split))):
            assert split_of(text_key(source)) == split
    messages.clear()
    assert prepare_files(pattern, "text", "summary", log=messages.append) == folder
    assert messages == [f"Using the prepared {pattern} in {folder}"]
    write_jsonl(tmp_path / "part-3.jsonl", pairs_rows(10, 600))  # the glob grows
    assert prepare_files(pattern, "text", "summary", log=quiet) != folder
    with pytest.raises(ValueError, match="No file matches .*nothing-"):
        prepare_files(str(tmp_path / "nothing-*.jsonl"), log=quiet)


def test_a_bad_line_stops_the_preparation_and_leaves_nothing(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(pairs_rows(1)[0]) + "\n{not json\n")
    with pytest.raises(ValueError, match="bad.jsonl, line 2: not valid JSON"):
        prepare_files(path, "text", "summary", log=quiet)
    prepared = pathlib.Path(os.environ["S2S_KERAS_DATA"]) / "prepared"
    assert not [path for path in prepared.iterdir() if path.name.startswith("bad")]


def test_splits_know_their_sizes_without_reading_the_training_split(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", pairs_rows(3000))
    config = DataConfig(
        data=path, source_field="text", target_field="summary", tokenizer_sample=50
    )
    folder = prepare_files(path, "text", "summary", log=quiet)
    (train,) = shards.split_files(folder, "train")
    size = shards.read_manifest(folder)["splits"]["train"]["pairs"]
    # Spoil all but the start of the training shard: what reads it all fails.
    data = pathlib.Path(train).read_bytes()
    start = len(data) // 3
    pathlib.Path(train).write_bytes(data[:start] + b"U" * (len(data) - start))
    splits = open_splits(config)
    assert splits.sizes["train"] == size
    assert splits.steps_per_epoch(64) == math.ceil(size / 64)
    assert len(splits.sample()) == 50  # read from the start only
    splits.batches("train", tokenizer_for(tmp_path / "t", splits.sample(), 300))
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="train-00000-of-00001.tfrecord.gz: read"
    ):
        for _ in splits.stream("train"):
            pass


def test_limits_cut_the_streams_and_the_tokenizer_says_what_it_learned_from(
    tmp_path, capsys
):
    path = write_jsonl(tmp_path / "pairs.jsonl", pairs_rows(3000))
    config = DataConfig(
        data=path,
        source_field="text",
        target_field="summary",
        max_train_pairs=500,
        validation_pairs=20,
        eval_pairs=30,
        tokenizer_sample=100,
    )
    splits = open_splits(config)
    assert splits.sizes == {"train": 500, "validation": 20, "test": 30}
    assert [len(splits.take(split)) for split in SPLITS] == [500, 20, 30]
    with pytest.raises(ValueError, match="Received: split='dev'"):
        splits.take("dev")
    tokenizer_for(tmp_path / "tokenizer", splits.sample(), 300)
    assert "from 200 sentences (100 training pairs)" in capsys.readouterr().out
    validation = splits.batches(
        "validation", tokenizer_for(tmp_path / "tokenizer", [], 300)
    )
    assert validation.cardinality() > 0  # counted: fit knows its length
    assert sum(int(tf.shape(labels)[0]) for _, labels in validation) == 20


def test_the_training_batches_repeat_without_a_short_batch(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", pairs_rows(300))
    splits = open_splits(
        DataConfig(data=path, source_field="text", target_field="summary")
    )
    tokenizer = tokenizer_for(tmp_path / "tokenizer", splits.sample(), 300)
    steps = splits.steps_per_epoch(16)
    train = splits.batches("train", tokenizer, batch_size=16, repeat=True)
    sizes = [int(tf.shape(labels)[0]) for _, labels in train.take(3 * steps)]
    assert sizes == [16] * (3 * steps)  # three passes, batches full across them


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(*args):
    process = subprocess.Popen(
        [sys.executable, "-m", "s2s_keras.data.service", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    deadline = time.monotonic() + 120
    for line in process.stdout:  # it says its address once it serves
        if line.startswith("tf.data service") and "serving" in line:
            return process
        assert time.monotonic() < deadline
    raise AssertionError(f"the server stopped: {process.wait()}")


@pytest.fixture
def data_service():
    """A dispatcher and two workers on loopback; yields the dispatcher's address."""
    port = free_port()
    servers = [start_server("dispatcher", "--port", str(port))]
    try:
        for _ in range(2):
            servers.append(start_server("worker", "--dispatcher", f"localhost:{port}"))
        yield f"grpc://localhost:{port}"
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)


def test_the_data_service_prepares_each_training_pair_once_a_pass(
    tmp_path, data_service
):
    path = write_jsonl(tmp_path / "pairs.jsonl", pairs_rows(2000))
    config = DataConfig(
        data=path, source_field="text", target_field="summary", shards=4
    )
    local = open_splits(config)
    tokenizer = tokenizer_for(tmp_path / "tokenizer", local.sample(), 300)
    served = open_splits(DataConfig(**{**vars(config), "data_service": data_service}))
    batches = served.batches("train", tokenizer, batch_size=32, max_target_length=8)
    labels = sorted(
        tuple(row[row > 0])
        for _, batch_labels in batches.as_numpy_iterator()
        for row in batch_labels
    )
    expected = local.batches("train", tokenizer, batch_size=32, max_target_length=8)
    assert labels == sorted(
        tuple(row[row > 0])
        for _, batch_labels in expected.as_numpy_iterator()
        for row in batch_labels
    )
    assert len(labels) == local.sizes["train"]


@pytest.mark.slow  # a whole recipe run (or several), 30-50 s
def test_a_recipe_trains_from_the_data_service_in_epochs_of_the_steps_asked(
    pairs_file, tmp_path, data_service
):
    import summarize

    from tests.recipes.test_recipes import quick_args

    output = tmp_path / "summarize"
    summarize.main(
        quick_args(pairs_file, output)
        + ["--data-service", data_service, "--steps-per-epoch", "3", "--epochs", "2"]
    )
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["config"]["data_service"] == data_service
    assert (output / "model.tflite").is_file()


def test_subword_sampling_cuts_the_training_pairs_only(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", pairs_rows(600))

    def batches(split, sampling):
        config = DataConfig(
            data=path, source_field="text", target_field="summary",
            subword_sampling=sampling,
        )  # fmt: skip
        splits = open_splits(config)
        tokenizer = tokenizer_for(tmp_path / "tokenizer", splits.sample(), 300)
        found = splits.batches(split, tokenizer, batch_size=16, seed=0)
        return [inputs["source_ids"].numpy().tolist() for inputs, _ in found]

    assert batches("validation", 0.1) == batches("validation", 0.0)
    assert batches("train", 0.1) != batches("train", 0.0)
    with pytest.raises(ValueError, match="subword_sampling"):
        DataConfig(subword_sampling=2.0)
