"""Batch inference over files of any size: an export run on every row, resumable.

    python -m s2s_keras.predict summarize_debian --input 'corpus/*.jsonl.gz' \
        --field text --output summaries/

Each input file (`.jsonl` objects, or `.txt` lines; gzipped or not) is read
row by row and run through the export's SavedModel in batches, and its rows
come out in order, each with the model's output added
(`{"text": ..., "prediction": ...}`), in parts of `shard_rows` rows:

    summaries/
      part-a.jsonl.gz/              one folder per input file
        part-00000.jsonl.gz         rows 0 to 9,999, written whole or not at all
        part-00001.jsonl.gz
        _DONE                       {"rows": ..., "parts": ...} once the file is done

Memory does not grow with the files: one part's rows at a time. A part is
written to a temporary file and renamed when complete, so a killed job
leaves whole parts only; run again, it skips the files that are done and
the parts that are written, and goes on from the first part missing.

The same job runs on Apache Beam (`s2s_keras.predict.beam`), for more than
one machine.
"""

import gzip
import json
import pathlib

import numpy as np

from s2s_keras.data.files import data_files
from s2s_keras.data.files import file_format
from s2s_keras.utils.atomic_files import atomic_write

FORMATS = (".jsonl", ".txt")
DONE = "_DONE"


def input_format(path):
    """`.jsonl` or `.txt`, from the file name (a `.gz` ending ignored)."""
    return file_format(path, FORMATS)


def read_records(path, field):
    """Yields `(record, text)` of each row of an input file.

    A `.jsonl` row is a JSON object whose `field` is the text; a `.txt` row
    is the text, its record `{field: text}`.

    Raises:
        ValueError: naming the file and line of a row that is not valid
            JSON, not an object, or whose `field` is missing or not text.
    """
    kind = input_format(path)
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if kind == ".txt":
                    text = line.rstrip("\n")
                    yield {field: text}, text
                    continue
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(
                        f"{path}, line {number}: not valid JSON ({error.msg})"
                    ) from None
                if not isinstance(record, dict) or not isinstance(
                    record.get(field), str
                ):
                    raise ValueError(
                        f"{path}, line {number}: expected a JSON object with a text "
                        f"field {field!r}, got {line.strip()[:80]!r}"
                    )
                yield record, record[field]
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise ValueError(f"Cannot read {path}: {error}") from None


def _batches(items, size):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class ExportPredictor:
    """An export's signature called on batches of texts: `(texts) -> [outputs]`.

    Args:
        model: an export folder, or a preset's name or folder.
        signature: the signature to call; it takes one string input.
        output_field: the name of the text output in each record; the
            signature's other outputs (`scores`, ...) go beside it as
            `{output_field}_{name}`.
    """

    def __init__(self, model, signature="serving_default", output_field="prediction"):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (the SentencePiece ops of the graph)

        folder = pathlib.Path(model)
        if not (folder / "saved_model").is_dir():
            from s2s_keras.presets.exports import cached_export

            folder = cached_export(str(model))
        loaded = tf.saved_model.load(str(folder / "saved_model"))
        if signature not in loaded.signatures:
            raise ValueError(
                f"no signature {signature!r} in {folder}; it has {sorted(loaded.signatures)}"
            )
        self.function = loaded.signatures[signature]
        inputs = self.function.structured_input_signature[1]
        strings = [name for name, spec in inputs.items() if spec.dtype == tf.string]
        if len(strings) != 1:
            raise ValueError(
                f"signature {signature!r} takes {sorted(inputs)}: batch inference "
                "needs a signature with one text input"
            )
        self.input_name, self.output_field, self._tf = strings[0], output_field, tf
        self._loaded = loaded  # keeps the function's variables alive

    def __call__(self, texts):
        """The outputs of each text, as JSON-ready dicts."""
        outputs = self.function(**{self.input_name: self._tf.constant(texts)})
        columns = {}
        for name, value in outputs.items():
            key = self.output_field if name == "text" else f"{self.output_field}_{name}"
            value = value.numpy()
            columns[key] = (
                [item.decode("utf-8", "replace") for item in value]
                if value.dtype == object
                else np.asarray(value).tolist()
            )
        return [
            {key: column[row] for key, column in columns.items()}
            for row in range(len(texts))
        ]


def predict_files(
    predict,
    inputs,
    output,
    field="text",
    batch_size=64,
    shard_rows=10_000,
    progress=True,
    on_part=None,
):
    """Runs `predict` over every row of the input files, into sharded outputs.

    Args:
        predict: `(list of texts) -> list of dicts` (an `ExportPredictor`).
        inputs: a file, or a glob (`corpus/*.jsonl.gz`).
        output: the output folder; a rerun resumes what it holds.
        field: the text field of a `.jsonl` record (the name of a `.txt`
            line's).
        batch_size: rows a call of `predict`.
        shard_rows: rows in an output part.
        progress: show a progress bar of the rows.
        on_part: called with each part's path once written, or None.

    Returns:
        `{"files": ..., "rows": ..., "predicted": ...}`: the rows of every
        file, and those predicted by this run (not resumed).
    """
    if batch_size < 1 or shard_rows < 1:
        raise ValueError(
            f"batch_size and shard_rows must be >= 1, got {batch_size}, {shard_rows}"
        )
    files = data_files(inputs)
    for path in files:
        input_format(path)
    names = [path.name for path in files]
    if len(set(names)) != len(names):
        raise ValueError(f"two input files have one name: {sorted(names)}")
    output = pathlib.Path(output)
    import keras

    bar = keras.utils.Progbar(None, unit_name="row") if progress else None
    rows = predicted = 0
    for path in files:
        done = output / path.name / DONE
        if done.is_file():
            rows += json.loads(done.read_text())["rows"]
            continue
        file_rows, file_predicted = _predict_file(
            predict,
            path,
            output / path.name,
            field,
            batch_size,
            shard_rows,
            bar,
            on_part,
        )
        rows, predicted = rows + file_rows, predicted + file_predicted
    return {"files": len(files), "rows": rows, "predicted": predicted}


def part_name(index):
    return f"part-{index:05d}.jsonl.gz"


def _predict_file(predict, path, folder, field, batch_size, shard_rows, bar, on_part):
    """Predicts one file's missing parts; writes `_DONE`. Returns (rows, predicted)."""
    for stale in folder.glob(f".{part_name(0)[:5]}*"):  # a killed run's unfinished part
        stale.unlink()
    records = read_records(path, field)
    rows = predicted = index = 0
    while True:
        part = folder / part_name(index)
        chunk = [item for _, item in zip(range(shard_rows), records, strict=False)]
        if not chunk:
            break
        rows += len(chunk)
        index += 1
        if part.is_file():  # written whole by an earlier run
            continue
        with (
            atomic_write(part, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb") as file,
        ):
            for batch in _batches(chunk, batch_size):
                answers = predict([text for _, text in batch])
                for (record, _), answer in zip(batch, answers, strict=True):
                    line = json.dumps({**record, **answer}, ensure_ascii=False)
                    file.write(line.encode("utf-8") + b"\n")
                predicted += len(batch)
                if bar is not None:
                    bar.add(len(batch))
        if on_part is not None:
            on_part(part)
    with atomic_write(folder / DONE) as file:
        json.dump({"rows": rows, "parts": index}, file)
    return rows, predicted
