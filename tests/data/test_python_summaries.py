import json

from s2s_keras.data import frozen
from s2s_keras.data import python_summaries
from s2s_keras.data.python_summaries import lead_text
from s2s_keras.data.python_summaries import summary_pairs

PROSE = (
    "Requests is a simple, yet elegant, HTTP library for people who want to send "
    "requests without learning the whole protocol first."
)
MARKDOWN = """# Requests

[![Version](https://img.shields.io/pypi/v/requests.svg)](https://pypi.org/project/requests/)
[![Downloads](https://static.pepy.tech/badge/requests/month)](https://pepy.tech)

<p align="center"><img src="logo.png"></p>

**Requests** is a simple, yet [elegant](https://example.org), HTTP library for
people who want to send requests without learning the whole protocol first.

```python
import requests
r = requests.get("https://example.org")
```

More prose after the code is not the opening any more, however long it is here.
"""
RST = """tqdm
====

|Py-Versions| |Versions|

``tqdm`` means *progress* in Arabic: wrap any iterable with ``tqdm(iterable)``<br />
and you are done, a smart progress meter shows how far the loop has gone.

Short.
"""


def test_the_opening_prose_skips_headings_badges_html_and_code():
    assert lead_text(MARKDOWN) == PROSE
    assert lead_text(RST) == (
        "tqdm means progress in Arabic: wrap any iterable with tqdm(iterable) and "
        "you are done, a smart progress meter shows how far the loop has gone."
    )
    assert lead_text("# Title\n\nToo short to be prose.\n") == ""


def test_the_opening_takes_paragraphs_up_to_the_lead_length():
    paragraph = "one two three four five six seven eight nine ten eleven twelve."
    text = "\n\n".join([paragraph] * 4)
    assert lead_text(text, lead_words=20) == " ".join([paragraph] * 2)


def write_distribution(folder, name, summary, description, version="1.0"):
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        f"Summary: {summary}\n\n{description}",
        encoding="utf-8",
    )


def test_pairs_come_one_per_project_sorted_and_filtered(tmp_path):
    write_distribution(tmp_path, "zeta_lib", "Zeta does the last things", MARKDOWN)
    write_distribution(tmp_path, "Alpha", "Alpha does the first things", RST)
    write_distribution(tmp_path, "nosummary", "UNKNOWN", MARKDOWN)
    write_distribution(tmp_path, "terse", "Too short", MARKDOWN)  # 2 words
    write_distribution(tmp_path, "codeonly", "Only code in here", "```\nx = 1\n```\n")
    write_distribution(tmp_path, "s2s_keras", "Sequence to sequence", MARKDOWN)
    pairs, versions = summary_pairs([tmp_path])
    assert [target for _, target in pairs] == [
        "Alpha does the first things",
        "Zeta does the last things",
    ]
    assert pairs[1][0] == PROSE
    assert versions == {"alpha": "1.0", "zeta-lib": "1.0"}


def test_the_frozen_out_of_domain_set_is_pinned_and_whole():
    pairs = frozen.frozen_test_pairs(python_summaries.NAME, "2026-12-03")
    _, entry = frozen.frozen_entry(python_summaries.NAME, "latest")
    assert len(pairs) == entry["pairs"] >= 150
    assert len(entry["provenance"]["sources"]) == len(pairs)
    assert all(source and target for source, target in pairs)
    assert "s2s-keras" not in entry["provenance"]["sources"]


def test_freezing_writes_a_version_and_the_listing_shows_it(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(frozen, "FOLDER", tmp_path)
    entry = python_summaries.freeze(tmp_path)
    index = json.loads((tmp_path / frozen.INDEX).read_text())
    version = entry["provenance"]["prepared"]
    assert index[python_summaries.NAME][version]["sha256"] == entry["sha256"]
    assert frozen.frozen_test_pairs(python_summaries.NAME, version, tmp_path)

    from s2s_keras.data.__main__ import main

    assert main(["frozen"]) == 0
    assert f"python_summaries {version}: {entry['pairs']} test pairs (all of it" in (
        capsys.readouterr().out
    )
