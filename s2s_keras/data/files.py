"""Sentence pairs from the user's own files: JSONL, TSV, CSV, gzipped or not.

The whole file is read and checked before a dataset is returned, so a bad
line stops the run at once with the file and line number, instead of an
epoch later inside `model.fit`.
"""

import csv
import gzip
import json
import pathlib

import tensorflow as tf

FORMATS = (".jsonl", ".tsv", ".csv")


def file_format(path):
    """`.jsonl`, `.tsv` or `.csv`, from the file name (a `.gz` ending ignored)."""
    suffixes = pathlib.Path(path).suffixes
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if not suffixes or suffixes[-1] not in FORMATS:
        raise ValueError(
            f"Cannot tell the format of {path}: expected a name ending in "
            f"{', '.join(FORMATS)} (optionally followed by .gz)."
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


def read_columns(path, fields, log=print):
    """Reads text fields from every row of a file, checking every line.

    Rows with an empty field (or one of only white space) are skipped and
    counted in a printed summary. The file is read once, so the columns stay
    aligned row by row.

    Args:
        path: a `.jsonl`, `.tsv` or `.csv` file, or any of those gzipped
            (`.jsonl.gz` ...). TSV and CSV files start with a header row.
        fields: the names of the fields or columns, e.g. `("source", "target")`.
        log: callable for the summary line.

    Returns:
        A list of lists of Python strings, one list per field, in order.

    Raises:
        ValueError: the file is missing, empty, not UTF-8, has a malformed
            line (named by number), or lacks a field (the fields found are
            listed).
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
    columns, skipped = [[] for _ in fields], 0
    for number, values in rows:
        for field, value in zip(fields, values, strict=True):
            if not isinstance(value, str):
                raise ValueError(
                    f"{path}, line {number}: field {field!r} should be text, "
                    f"found {type(value).__name__}: {value!r:.60}"
                )
        if not all(value.strip() for value in values):
            skipped += 1
            continue
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    if not columns[0]:
        raise ValueError(
            f"{path} holds no usable pairs"
            + (
                f" ({skipped} rows had an empty side)."
                if skipped
                else " (it is empty)."
            )
        )
    log(
        f"Read {len(columns[0])} pairs from {path}"
        + (f"; skipped {skipped} rows with an empty side." if skipped else ".")
    )
    return columns


def read_pairs(path, source_field="source", target_field="target", log=print):
    """Reads (source, target) text pairs from a file (see `read_columns`).

    Returns:
        Two lists of Python strings, `(sources, targets)`.
    """
    sources, targets = read_columns(path, (source_field, target_field), log=log)
    return sources, targets


def load_pairs(path, source_field="source", target_field="target", log=print):
    """A `tf.data.Dataset` of `(source, target)` strings from a file.

    See `read_pairs` for the formats and the errors.

    Returns:
        A `tf.data.Dataset` of pairs of scalar `tf.string` tensors.
    """
    sources, targets = read_pairs(path, source_field, target_field, log=log)
    return tf.data.Dataset.from_tensor_slices((sources, targets))
