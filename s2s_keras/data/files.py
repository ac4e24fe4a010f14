"""Sentence pairs from the user's own files: JSONL, TSV, CSV, gzipped or not.

`prepare_files` reads the files row by row, once, and writes them split
and shuffled into shards (`data/shards.py`) that training streams; a bad
line stops that preparation at once with the file and line number, instead
of an epoch later inside `model.fit`. Memory does not grow with the files:
one shard is in memory at a time, to shuffle it.

    folder = prepare_files("corpus/part-*.jsonl.gz", ("article", "summary"))
"""

import csv
import glob
import gzip
import hashlib
import json
import pathlib

from s2s_keras.data.cache import cache_dir
from s2s_keras.data.shards import ShardedWriter
from s2s_keras.data.shards import read_manifest
from s2s_keras.data.shards import shard_counts
from s2s_keras.data.splits import SPLIT_PERCENT
from s2s_keras.data.splits import SPLITS
from s2s_keras.data.splits import split_of
from s2s_keras.data.splits import text_key

FORMATS = (".jsonl", ".tsv", ".csv")
FORMAT_VERSION = 1  # raised whenever preparation changes: old folders are redone
GZIP_RATIO = 3  # text bytes per byte of a .gz file, about, to size the shards
COUNTED_GROUPS = 100_000  # distinct split keys counted, at most (for a hint)
PROGRESS_EVERY = 500_000  # pairs between two progress lines


def data_files(pattern):
    """The files `pattern` names: one path, or a glob (`corpus/*.jsonl.gz`), sorted.

    Raises:
        ValueError: no file matches.
    """
    pattern = str(pattern)
    if glob.has_magic(pattern):
        paths = sorted(pathlib.Path(path) for path in glob.glob(pattern))
        paths = [path for path in paths if path.is_file()]
        if not paths:
            raise ValueError(f"No file matches {pattern!r}.")
        return paths
    path = pathlib.Path(pattern)
    if not path.is_file():
        raise ValueError(f"No such file: {path}")
    return [path]


def file_format(path, formats=FORMATS):
    """One of `formats` (`.jsonl`, `.tsv` or `.csv`), from the file name (a
    `.gz` ending ignored)."""
    suffixes = pathlib.Path(path).suffixes
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if not suffixes or suffixes[-1] not in formats:
        raise ValueError(
            f"Cannot tell the format of {path}: expected a name ending in "
            f"{', '.join(formats)} (optionally followed by .gz)."
        )
    return suffixes[-1]


def _decoded_lines(path):
    """Yields (line number, text) of a file, failing clearly on bad bytes."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as file:
            for number, raw in enumerate(file, start=1):
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ValueError(
                        f"{path}, line {number}: the bytes are not valid UTF-8 "
                        f"({error.reason} at byte {error.start}). Convert the "
                        "file to UTF-8, e.g. with iconv."
                    ) from None
    except (OSError, EOFError) as error:  # a truncated or non-gzip .gz
        raise ValueError(f"Cannot read {path}: {error}") from None


def _missing_field(path, number, field, found):
    return ValueError(
        f"{path}, line {number}: no field {field!r}. Fields found: "
        f"{sorted(found)}. Pass the right names with --source-field and "
        "--target-field."
    )


def _jsonl_rows(path, fields):
    for number, line in _decoded_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{path}, line {number}: not valid JSON ({error.msg}, column "
                f"{error.colno}). Each line of a .jsonl file must be one JSON object."
            ) from None
        if not isinstance(row, dict):
            raise ValueError(
                f"{path}, line {number}: expected a JSON object, found "
                f"{type(row).__name__}."
            )
        for field in fields:
            if field not in row:
                raise _missing_field(path, number, field, row)
        yield number, [row[field] for field in fields]


def _delimited_rows(path, fields, delimiter):
    lines = (text for _, text in _decoded_lines(path))
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        for field in fields:
            if field not in header:
                raise _missing_field(path, 1, field, header)
        columns = [header.index(field) for field in fields]
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"{path}, line {reader.line_num}: {len(row)} columns where "
                    f"the header has {len(header)}."
                )
            yield reader.line_num, [row[column] for column in columns]
    except csv.Error as error:
        raise ValueError(f"{path}, line {reader.line_num}: {error}") from None


def checked_rows(path, fields, skipped=None):
    """Yields the text fields of each row of a file, checking every line.

    Rows with an empty field (or one of only white space) are skipped and,
    when `skipped` (a one-item list) is given, counted in `skipped[0]`.

    Args:
        path: a `.jsonl`, `.tsv` or `.csv` file, or any of those gzipped
            (`.jsonl.gz` ...). TSV and CSV files start with a header row.
        fields: the names of the fields or columns, e.g. `("source", "target")`.
        skipped: optional one-item list of int, the count of skipped rows.

    Yields:
        A list of Python strings per usable row, one per field, in order.

    Raises:
        ValueError: the file is missing, not UTF-8, has a malformed line
            (named by number), or lacks a field (the fields found are listed).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"No such file: {path}")
    kind = file_format(path)
    fields = tuple(fields)
    if kind == ".jsonl":
        rows = _jsonl_rows(path, fields)
    else:
        rows = _delimited_rows(path, fields, "\t" if kind == ".tsv" else ",")
    for number, values in rows:
        for field, value in zip(fields, values, strict=True):
            if not isinstance(value, str):
                raise ValueError(
                    f"{path}, line {number}: field {field!r} should be text, "
                    f"found {type(value).__name__}: {value!r:.60}"
                )
        if not all(value.strip() for value in values):
            if skipped is not None:
                skipped[0] += 1
            continue
        yield values


def _no_pairs(path, skipped):
    return ValueError(
        f"{path} holds no usable pairs"
        + (f" ({skipped} rows had an empty side)." if skipped else " (it is empty).")
    )


def _read_message(path, count, skipped):
    return f"Read {count} pairs from {path}" + (
        f"; skipped {skipped} rows with an empty side." if skipped else "."
    )


def read_columns(path, fields, log=print):
    """Reads text fields from every row of a (small) file into lists.

    See `checked_rows` for the formats, the skipped rows and the errors;
    for files of any size, `prepare_files` streams them instead.

    Args:
        path: the file.
        fields: the names of the fields or columns.
        log: callable for the summary line.

    Returns:
        A list of lists of Python strings, one list per field, in order.

    Raises:
        ValueError: as `checked_rows`, or the file holds no usable row.
    """
    columns, skipped = [[] for _ in fields], [0]
    for values in checked_rows(path, fields, skipped):
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    if not columns[0]:
        raise _no_pairs(path, skipped[0])
    log(_read_message(path, len(columns[0]), skipped[0]))
    return columns


def read_pairs(path, source_field="source", target_field="target", log=print):
    """Reads (source, target) text pairs from a file (see `read_columns`).

    Returns:
        Two lists of Python strings, `(sources, targets)`.
    """
    sources, targets = read_columns(path, (source_field, target_field), log=log)
    return sources, targets


def prepare_files(
    pattern,
    source_field="source",
    target_field="target",
    context_field=None,
    shards=None,
    log=print,
):
    """Splits and shards a file (or a glob of files) of pairs, once; cached.

    Each row goes to train, validation or test (90 / 5 / 5) by a hash of its
    source text with case, white space and digits folded (`text_key`), so
    texts that differ only there share a split. With a `context_field` the
    source is "question <context> context" and the split is hashed from the
    context, so every question about one passage lands in the same split.
    Rows are written to shards drawn with a fixed seed and each shard is
    shuffled, so every split streams in a shuffled order whatever the order
    of the files.

    The folder is kept in the cache (`$S2S_KERAS_DATA` or
    `~/.cache/s2s_keras`, under `prepared/`), named by the files' paths,
    sizes and times and the fields: the same files are prepared once.

    Args:
        pattern: a path or glob of `.jsonl`, `.tsv` or `.csv` files (or `.gz`).
        source_field: the source field or column.
        target_field: the target field or column.
        context_field: a context field read after the source, or None.
        shards: int, training shard files at least (several workers read
            whole files), or None to size them by the text (16 MiB each).
        log: callable for progress messages.

    Returns:
        The prepared folder (`pathlib.Path`); see `data/shards.py`.

    Raises:
        ValueError: no file matches, or a file is unreadable or holds no
            usable pair (see `checked_rows`).
    """
    paths = data_files(pattern)
    fields = [source_field, *([context_field] if context_field else []), target_field]
    identity = {
        "files": [
            [str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns]
            for path in paths
        ],
        "fields": fields,
        "shards": shards,
        "format": FORMAT_VERSION,
    }
    digest = hashlib.sha1(json.dumps(identity).encode()).hexdigest()[:12]
    stem = paths[0].name.split(".")[0]
    folder = cache_dir("prepared") / f"{stem}-{digest}"
    if read_manifest(folder) is not None:
        log(f"Using the prepared {pattern} in {folder}")
        return folder
    text_bytes = sum(
        path.stat().st_size * (GZIP_RATIO if path.suffix == ".gz" else 1)
        for path in paths
    )
    counts = shard_counts(
        {split: text_bytes * SPLIT_PERCENT[split] / 100 for split in SPLITS}, shards
    )
    log(f"Preparing {pattern} (once; cached in {folder}) ...")
    groups = set()
    with ShardedWriter(folder, counts, shuffle_seed=0, metadata=identity) as writer:
        for path in paths:
            skipped, read = [0], 0
            for values in checked_rows(path, fields, skipped):
                key = text_key(values[1] if context_field else values[0])
                if context_field:
                    source = f"{values[0]} <context> {values[1]}"
                else:
                    source = values[0]
                writer.write(split_of(key), source, values[-1])
                if len(groups) < COUNTED_GROUPS:
                    groups.add(key)
                read += 1
                if read % PROGRESS_EVERY == 0:
                    log(f"  {read:,} pairs read from {path.name} ...")
            if not read:
                raise _no_pairs(path, skipped[0])
            log(_read_message(path, read, skipped[0]))
        log(f"Shuffling {sum(counts.values())} shard files ...")
        writer.metadata["split_by"] = "context" if context_field else "source text"
        writer.metadata["groups"] = (
            len(groups) if len(groups) < COUNTED_GROUPS else None
        )
    log(
        "Prepared: "
        + ", ".join(f"{split} {count}" for split, count in writer.counts.items())
    )
    return folder
