import gzip
import json

import pytest

from s2s_keras.data import read_pairs

ROWS = [
    {"document": "the first long text", "summary": "first"},
    {"document": "naïve café, 東京 😀", "summary": "unicode"},
    {"document": "a text with, a comma", "summary": 'a "quoted" summary'},
]


def write(path, text, compress=False):
    data = text.encode("utf-8") if isinstance(text, str) else text
    if compress:
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def jsonl(rows):
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def delimited(rows, delimiter):
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=["document", "summary"], delimiter=delimiter
    )
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


FORMATS = {
    ".jsonl": jsonl,
    ".tsv": lambda rows: delimited(rows, "\t"),
    ".csv": lambda rows: delimited(rows, ","),
}


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_every_format_reads_every_pair(suffix, compress, tmp_path):
    name = "pairs" + suffix + (".gz" if compress else "")
    path = write(tmp_path / name, FORMATS[suffix](ROWS), compress)
    sources, targets = read_pairs(path, "document", "summary", log=lambda _: None)
    assert list(zip(sources, targets, strict=True)) == [
        (row["document"], row["summary"]) for row in ROWS
    ]


def test_rows_with_an_empty_side_are_skipped_and_counted(tmp_path):
    rows = ROWS + [{"document": "  ", "summary": "x"}, {"document": "y", "summary": ""}]
    messages = []
    sources, _ = read_pairs(
        write(tmp_path / "p.jsonl", jsonl(rows)),
        "document",
        "summary",
        log=messages.append,
    )
    assert len(sources) == 3
    assert messages == [
        f"Read 3 pairs from {tmp_path / 'p.jsonl'}; skipped 2 rows with an empty side."
    ]


def read(path, source="document", target="summary"):
    return read_pairs(path, source, target, log=lambda message: None)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="No such file: .*nothing.jsonl"):
        read(tmp_path / "nothing.jsonl")


@pytest.mark.parametrize("suffix", [".jsonl", ".tsv", ".csv"])
def test_empty_file(suffix, tmp_path):
    with pytest.raises(ValueError, match="holds no usable pairs \\(it is empty\\)"):
        read(write(tmp_path / f"empty{suffix}", ""))


def test_all_rows_empty_sided(tmp_path):
    path = write(tmp_path / "p.jsonl", jsonl([{"document": "", "summary": "x"}]))
    with pytest.raises(ValueError, match="1 rows had an empty side"):
        read(path)


def test_malformed_json_line_names_file_and_line(tmp_path):
    text = jsonl(ROWS[:2]) + '{"document": "broken\n' + jsonl(ROWS[2:])
    with pytest.raises(ValueError, match=r"p\.jsonl, line 3: not valid JSON"):
        read(write(tmp_path / "p.jsonl", text))


def test_json_line_that_is_not_an_object(tmp_path):
    with pytest.raises(ValueError, match="line 2: expected a JSON object, found list"):
        read(write(tmp_path / "p.jsonl", jsonl(ROWS[:1]) + "[1, 2]\n"))


def test_missing_field_names_it_and_lists_the_fields_found(tmp_path):
    path = write(tmp_path / "p.jsonl", jsonl(ROWS))
    with pytest.raises(
        ValueError,
        match=r"line 1: no field 'text'\. Fields found: \['document', 'summary'\]",
    ):
        read(path, source="text")


def test_missing_column_in_csv_header(tmp_path):
    path = write(tmp_path / "p.csv", delimited(ROWS, ","))
    with pytest.raises(
        ValueError, match=r"no field 'headline'.*\['document', 'summary'\]"
    ):
        read(path, target="headline")


def test_tsv_line_with_wrong_column_count(tmp_path):
    text = delimited(ROWS, "\t") + "only one column\n"
    with pytest.raises(
        ValueError, match=r"p\.tsv, line 5: 1 columns where the header has 2"
    ):
        read(write(tmp_path / "p.tsv", text))


def test_undecodable_bytes_name_the_line(tmp_path):
    data = jsonl(ROWS[:1]).encode() + b'{"document": "caf\xe9", "summary": "x"}\n'
    with pytest.raises(ValueError, match=r"line 2: the bytes are not valid UTF-8"):
        read(write(tmp_path / "p.jsonl", data))


def test_non_text_field(tmp_path):
    path = write(tmp_path / "p.jsonl", jsonl([{"document": 3, "summary": "x"}]))
    with pytest.raises(
        ValueError, match="line 1: field 'document' should be text, found int"
    ):
        read(path)


def test_unknown_format(tmp_path):
    with pytest.raises(
        ValueError, match="Cannot tell the format.*\\.jsonl, \\.tsv, \\.csv"
    ):
        read(write(tmp_path / "p.txt", "a\tb\n"))


def test_truncated_gzip(tmp_path):
    data = gzip.compress(jsonl(ROWS).encode())[:-10]
    with pytest.raises(ValueError, match="Cannot read .*p.jsonl.gz"):
        read(write(tmp_path / "p.jsonl.gz", data))
