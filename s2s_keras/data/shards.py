"""Prepared pairs on disk: sharded TFRecord files, their manifest, their streams.

A prepared folder holds each split as gzipped TFRecord shards of
`tf.train.Example`s with two bytes features, `source` and `target`, and a
`manifest.json` (written last, it marks the folder complete) with each
split's pair count and files:

    train-00000-of-00004.tfrecord.gz ... validation-00000-of-00001.tfrecord.gz
    manifest.json   {"splits": {"train": {"pairs": 55663, "files": [...]}, ...}}

    manifest.json   {"splits": {"train": {"pairs": 55663, "files": [...],
                                           "records": [13916, ...]}, ...}}

Any TensorFlow program reads them (`tf.data.TFRecordDataset(files, "GZIP")`
and `tf.io.parse_example` with `FEATURES`). Here `read_pairs` streams a
split's shards interleaved, one pair from each in turn, so that a split
written round-robin into its shards (`ShardedWriter`) reads back in the
order it was written: the first n pairs of a stream are a fair sample
when the pairs were shuffled before they were written. It counts each
file's records against the manifest's `records` as it streams: a shard cut
short or damaged stops the stream with an error that names the file.
"""

import contextlib
import json
import math
import os
import pathlib
import random
import shutil

import tensorflow as tf

from s2s_keras.utils.atomic_files import atomic_write

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
        self.records = {split: [0] * count for split, count in self.shards.items()}
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
        self.records[split][index] += 1

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
                "records": self.records[split],
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


def split_records(folder, split):
    """The records in each shard of `split`, as the manifest says (None if it
    does not: a folder prepared before the manifest counted them)."""
    return read_manifest(folder)["splits"][split].get("records")


def read_pairs(files, workers=1, index=0, seed=None, records=None):
    """A stream of `(source, target)` strings from shard files.

    The files are read `READ_CYCLE` at a time, one record from each in turn
    (`interleave` with `block_length=1`, deterministic), and parsed in chunks.

    With several workers each gets an equal share, within one shard's
    records: the files are dealt out whole, `len(files) // workers` to each
    (every `workers`-th from its `index` on), and the `len(files) % workers`
    files left over are read by all, each keeping every `workers`-th record
    (so 7 files over 4 workers: one whole file each and a quarter of the
    other three; a single file is shared record by record).

    Args:
        files: the split's shard paths.
        workers: int, machines reading the split together.
        index: int, this machine's place among them (0 is the chief).
        seed: None to read the files in order; or an int: the file order
            is shuffled with this seed anew at each pass over the stream
            (each epoch), the same for every worker, so runs with a seed
            repeat.
        records: the records in each file (`split_records`), or None: each
            file is counted as it is read, and one that holds fewer (cut
            short, or damaged) raises an error naming it.

    Returns:
        A `tf.data.Dataset` of pairs of scalar `tf.string` tensors.
    """
    files = list(files)
    if not 0 <= index < workers:
        raise ValueError(
            f"index must be in 0..workers - 1 = {workers - 1}, got index={index}"
        )
    counts = [-1] * len(files) if records is None else list(records)
    if len(counts) != len(files):
        raise ValueError(
            f"{len(files)} files but {len(counts)} record counts: the manifest "
            "does not match the folder"
        )
    listed = tf.data.Dataset.from_tensor_slices((files, tf.constant(counts, tf.int64)))
    if seed is not None and len(files) > 1:
        listed = listed.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    whole = workers * (len(files) // workers)  # files dealt out whole
    counted = records is not None
    places = tf.range(len(files))
    dealt = tf.logical_and(places < whole, places % workers == index)

    def one_pass(paths, expected):
        """This worker's records of one pass over the files in this order."""
        if workers == 1:
            # All the files, however many this pass holds: under the tf.data
            # service a pass may hold only the files it was handed (a mask
            # of len(files) would then index past them).
            return _interleaved(paths, expected, len(files), counted)
        mine = _interleaved(
            tf.boolean_mask(paths, dealt),
            tf.boolean_mask(expected, dealt),
            len(files) // workers,
            counted,
        )
        if whole == len(files):
            return mine
        shared = _interleaved(
            paths[whole:], expected[whole:], len(files) - whole, counted
        )
        return mine.concatenate(shared.shard(workers, index))

    # One element, the files in this pass's order, so both parts see one order.
    records = listed.batch(max(1, len(files))).flat_map(one_pass)

    def parse(chunk):
        pairs = tf.io.parse_example(chunk, FEATURES)
        return pairs["source"], pairs["target"]

    return records.batch(PARSE_CHUNK).map(parse).unbatch()


def _interleaved(paths, expected, count, counted):
    """The records of `count` files, one from each in turn, each file
    `counted` against its `expected` records or not."""
    files = tf.data.Dataset.from_tensor_slices((paths, expected))
    return files.interleave(
        lambda path, expected: (
            _counted_records(path, expected)
            if counted
            else tf.data.TFRecordDataset(path, "GZIP")
        ),
        cycle_length=max(1, min(count, READ_CYCLE)),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def _counted_records(path, expected):
    """A shard's records; if it holds fewer than `expected`, an error naming
    it at its end (a damaged record ends the file early)."""
    records = tf.data.TFRecordDataset(path, "GZIP")
    checked = records.ignore_errors()  # a damaged record ends the file ...
    ends = tf.data.Dataset.from_tensors((tf.constant(b""), True))
    tagged = checked.map(lambda record: (record, False)).concatenate(ends)

    def count(seen, element):
        record, is_end = element
        message = tf.strings.join(
            [
                path,
                ": read ",
                tf.strings.as_string(seen),
                " records, its manifest says ",
                tf.strings.as_string(expected),
                ". The shard is cut short or damaged: delete the prepared folder "
                "to prepare it again.",
            ]
        )
        complete = tf.logical_or(tf.logical_not(is_end), seen >= expected)
        check = tf.debugging.Assert(complete, [message])
        with tf.control_dependencies([check]):
            return seen + 1, (tf.identity(record), is_end)

    counted = tagged.scan(tf.constant(0, tf.int64), count)  # ... and is counted
    return counted.filter(lambda record, is_end: tf.logical_not(is_end)).map(
        lambda record, is_end: record
    )
