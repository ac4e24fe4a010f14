"""Prepared pairs on disk: sharded TFRecord files, their manifest, their streams.

A prepared folder holds each split as gzipped TFRecord shards of
`tf.train.Example`s with two bytes features, `source` and `target`, and a
`manifest.json` (written last, it marks the folder complete) with each
split's pair count and files:

    train-00000-of-00004.tfrecord.gz ... validation-00000-of-00001.tfrecord.gz
    manifest.json   {"splits": {"train": {"pairs": 55663, "files": [...]}, ...}}

Any TensorFlow program reads them (`tf.data.TFRecordDataset(files, "GZIP")`
and `tf.io.parse_example` with `FEATURES`). Here `read_pairs` streams a
split's shards interleaved, one pair from each in turn, so that a split
written round-robin into its shards (`ShardedWriter`) reads back in the
order it was written: the first n pairs of a stream are a fair sample
when the pairs were shuffled before they were written.
"""

import contextlib
import json
import math
import os
import pathlib
import random
import shutil

import tensorflow as tf

from s2s_keras.atomic_files import atomic_write

MANIFEST = "manifest.json"
FEATURES = {
    "source": tf.io.FixedLenFeature([], tf.string),
    "target": tf.io.FixedLenFeature([], tf.string),
}
SHARD_BYTES = 16 * 2**20  # text per shard, about (before compression)
READ_CYCLE = 16  # shards read at once
PARSE_CHUNK = 256  # records parsed per graph call


def shard_counts(text_bytes, train_shards=None):
    """Shard files per split: one per `SHARD_BYTES` of its text.

    Args:
        text_bytes: dict split -> the size of its text in bytes, about.
        train_shards: int, the training split's files at least (several
            workers read whole files), or None.

    Returns:
        A dict split -> number of shard files, for `ShardedWriter`.
    """
    return {
        split: max(
            train_shards if split == "train" and train_shards else 1,
            math.ceil(size / SHARD_BYTES),
        )
        for split, size in text_bytes.items()
    }


def serialize(source, target):
    """A pair as the bytes of one `tf.train.Example` record."""
    feature = {
        name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))
        for name, text in (("source", source), ("target", target))
    }
    return tf.train.Example(
        features=tf.train.Features(feature=feature)
    ).SerializeToString()


def _file_name(split, index, count):
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord.gz"


class ShardedWriter:
    """Writes the splits of a prepared folder; the folder appears whole or not at all.

    Everything is written into a staging folder beside `folder`, which is
    renamed to `folder` when the block ends without an error (after the
    manifest); an error, or a kill, leaves no `folder` and the next run
    prepares it again. If another process finished the same folder first,
    its folder is kept and this one's dropped.

        with ShardedWriter(folder, {"train": 4, "validation": 1, "test": 1}) as writer:
            writer.write("train", source, target)
        writer.counts   # {"train": ..., ...}

    Args:
        folder: the prepared folder (`pathlib.Path`).
        shards: dict split -> number of shard files.
        shuffle_seed: None to write each split round-robin into its shards,
            in the order given (for pairs shuffled already); or an int: each
            pair goes to a shard drawn with this seed, and each shard is
            shuffled when the split is done (one shard in memory at a
            time), so that a split given in any order (a file sorted by
            date) streams back shuffled.
        metadata: dict of JSON values kept in the manifest.
    """

    def __init__(self, folder, shards, shuffle_seed=None, metadata=None):
        self.folder = pathlib.Path(folder)
        self.shards = dict(shards)
        self.shuffle_seed = shuffle_seed
        self.metadata = dict(metadata or {})
        self.counts = dict.fromkeys(self.shards, 0)
        self.staging = self.folder.with_name(f".{self.folder.name}.{os.getpid()}")
        self._random = random.Random(shuffle_seed)
        self._writers = {}

    def __enter__(self):
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        for split, count in self.shards.items():
            self._writers[split] = [
                tf.io.TFRecordWriter(
                    str(self.staging / _file_name(split, index, count)), "GZIP"
                )
                for index in range(count)
            ]
        return self

    def write(self, split, source, target):
        """Adds one pair to `split`."""
        writers = self._writers[split]
        if self.shuffle_seed is None:
            index = self.counts[split] % len(writers)
        else:
            index = self._random.randrange(len(writers))
        writers[index].write(serialize(source, target))
        self.counts[split] += 1

    def __exit__(self, kind, error, traceback):
        for writers in self._writers.values():
            for writer in writers:
                writer.close()
        if kind is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return False
        try:
            if self.shuffle_seed is not None:
                for path in sorted(self.staging.glob("*.tfrecord.gz")):
                    _shuffle_records(path, self._random)
            self._write_manifest()
            self._move_into_place()
        except BaseException:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise
        return False

    def _write_manifest(self):
        splits = {
            split: {
                "pairs": self.counts[split],
                "files": [_file_name(split, index, count) for index in range(count)],
            }
            for split, count in self.shards.items()
        }
        with atomic_write(self.staging / MANIFEST) as file:
            json.dump({**self.metadata, "splits": splits}, file, indent=2)

    def _move_into_place(self):
        if (self.folder / MANIFEST).is_file():  # another process was first
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        shutil.rmtree(self.folder, ignore_errors=True)  # an unfinished one
        try:
            os.rename(self.staging, self.folder)
        except OSError:  # made meanwhile by another process
            if not (self.folder / MANIFEST).is_file():
                raise
            shutil.rmtree(self.staging, ignore_errors=True)


def _shuffle_records(path, rng):
    """Rewrites a shard with its records in a random order."""
    records = [
        record
        for chunk in tf.data.TFRecordDataset(str(path), "GZIP")
        .batch(4096)
        .as_numpy_iterator()
        for record in chunk
    ]
    rng.shuffle(records)
    staged = path.with_name(f".{path.name}")
    with contextlib.closing(tf.io.TFRecordWriter(str(staged), "GZIP")) as writer:
        for record in records:
            writer.write(record)
    os.replace(staged, path)


def read_manifest(folder):
    """The manifest of a prepared folder, as a dict (None if not prepared)."""
    path = pathlib.Path(folder) / MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def split_files(folder, split):
    """The shard paths (str) of `split` in a prepared folder, in order."""
    manifest = read_manifest(folder)
    return [
        str(pathlib.Path(folder) / name) for name in manifest["splits"][split]["files"]
    ]


def read_pairs(files, workers=1, index=0):
    """A stream of `(source, target)` strings from shard files, in order.

    The files are read `READ_CYCLE` at a time, one record from each in turn
    (`interleave` with `block_length=1`, deterministic), and parsed in chunks.

    With several workers each reads whole files, every `workers`-th one
    from its `index` on; a single file is shared element by element (each
    keeps every `workers`-th pair).

    Args:
        files: the split's shard paths.
        workers: int, machines reading the split together.
        index: int, this machine's place among them (0 is the chief).

    Returns:
        A `tf.data.Dataset` of pairs of scalar `tf.string` tensors.

    Raises:
        ValueError: several files, but fewer than the workers.
    """
    files = list(files)
    element_wise = workers > 1 and len(files) == 1
    if workers > 1 and not element_wise:
        if len(files) < workers:
            raise ValueError(
                f"{len(files)} shard files for {workers} workers: each worker reads "
                "whole files, so each needs one at least. Prepare the data with "
                f"--shards {workers} (or more), or train on fewer workers."
            )
        files = files[index::workers]
    records = tf.data.Dataset.from_tensor_slices(files).interleave(
        lambda path: tf.data.TFRecordDataset(path, "GZIP"),
        cycle_length=min(len(files), READ_CYCLE),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if element_wise:
        records = records.shard(workers, index)

    def parse(chunk):
        pairs = tf.io.parse_example(chunk, FEATURES)
        return pairs["source"], pairs["target"]

    return records.batch(PARSE_CHUNK).map(parse).unbatch()
