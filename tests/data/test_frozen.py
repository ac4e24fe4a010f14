"""Frozen test splits and the provenance a prepared corpus records."""

import datetime
import json

import pytest

from s2s_keras.data import corpora
from s2s_keras.data import frozen
from s2s_keras.data.pairs import open_splits
from s2s_keras.data.splits import SPLIT_RULE_VERSION
from s2s_keras.training.config import DataConfig
from s2s_keras.utils.checksums import file_sha256

QUIET = {"log": lambda _: None}


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A built-in corpus `toy` of 40 pairs (its source file checksummed), a
    cache and a frozen-splits folder of its own."""
    monkeypatch.setenv("S2S_KERAS_DATA", str(tmp_path / "cache"))
    source = tmp_path / "toy-index.txt"
    source.write_text("the toy corpus's index, version 1\n")
    rows = [
        {"source": f"source {i} {'é' * (i % 3)}", "target": f"t{i}", "group": str(i)}
        for i in range(40)
    ]
    splits = {"train": rows[:20], "validation": rows[20:30], "test": rows[30:]}
    monkeypatch.setitem(corpora.CORPORA, "toy", lambda log: splits)
    monkeypatch.setitem(
        corpora.SOURCE_CHECKSUMS, "toy", lambda: {source.name: file_sha256(source)}
    )
    folder = tmp_path / "frozen_tests"
    monkeypatch.setattr(frozen, "FOLDER", folder)
    return folder, source


def test_a_prepared_corpus_records_where_it_came_from(toy):
    _, source = toy
    provenance = corpora.corpus_provenance("toy")
    assert provenance == {
        "corpus": "toy",
        "options": {},
        "prepared": datetime.date.today().isoformat(),
        "format_version": corpora.FORMAT_VERSION,
        "split_rule_version": SPLIT_RULE_VERSION,
        "sources": {source.name: file_sha256(source)},
        "split_sizes": {"train": 20, "validation": 10, "test": 10},
    }
    # Recorded when prepared: a source changed later does not rewrite it.
    source.write_text("the toy corpus's index, version 2\n")
    assert corpora.corpus_provenance("toy") == provenance
    assert corpora.corpus_provenance("other", prepare=False) is None


def test_a_frozen_split_is_the_same_pairs_after_the_corpus_moves(toy, tmp_path):
    folder, _ = toy
    entry = frozen.freeze("toy", pairs=6, folder=folder)
    version = datetime.date.today().isoformat()
    assert entry["pairs"] == 6 and entry["provenance"]["corpus"] == "toy"
    assert entry["sha256"] == file_sha256(folder / entry["file"])
    index = json.loads((folder / "index.json").read_text())
    assert index["toy"][version]["sha256"] == entry["sha256"]
    today = [
        (s.decode(), t.decode())
        for s, t in corpora.load_corpus("toy", "test", **QUIET).as_numpy_iterator()
    ][:6]

    # The corpus moves: the next day's test split holds other pairs.
    corpora.CORPORA["toy"] = lambda log: {
        "train": [{"source": "a", "target": "b", "group": "a"}],
        "validation": [{"source": "c", "target": "d", "group": "c"}],
        "test": [{"source": "new", "target": "pair", "group": "n"}],
    }
    (tmp_path / "cache").rename(tmp_path / "old-cache")
    moved = corpora.load_corpus("toy", "test", **QUIET)
    assert [s.decode() for s, _ in moved.as_numpy_iterator()] == ["new"]
    kept = corpora.load_corpus("toy", "test", version=version, **QUIET)
    assert [(s.decode(), t.decode()) for s, t in kept.as_numpy_iterator()] == today
    assert frozen.frozen_test_pairs("toy", "latest") == today
    assert frozen.versions("toy") == [version]

    # A recipe's test pairs, with --test-version.
    splits = open_splits(DataConfig(corpus="toy", test_version=version))
    assert splits.take("test") == today and splits.sizes["test"] == 6


def test_a_changed_or_unknown_frozen_split_is_refused(toy):
    folder, _ = toy
    entry = frozen.freeze("toy", pairs=3, folder=folder)
    version = datetime.date.today().isoformat()
    with pytest.raises(ValueError, match=r"Frozen test splits of toy: \['" + version):
        frozen.frozen_test_pairs("toy", "1999-01-01")
    with pytest.raises(ValueError, match="none"):
        frozen.frozen_test_pairs("toy", version, lang="it")
    with pytest.raises(ValueError, match="Only the test split is frozen"):
        corpora.load_corpus("toy", "train", version=version, **QUIET)
    with pytest.raises(ValueError, match="takes no --data"):
        open_splits(DataConfig(data="pairs.jsonl", test_version=version))
    path = folder / entry["file"]
    path.write_text(path.read_text().replace("t3", "t3 changed"))
    with pytest.raises(ValueError, match="it changed"):
        frozen.frozen_test_pairs("toy", version)


def test_pairs_round_trip_through_a_pinned_file(tmp_path):
    pairs = [("a\nb", "c"), ('é ☃ "quoted"', ""), ("", "x")]
    sha256 = frozen.write_pairs(tmp_path / "pairs.jsonl", pairs)
    assert frozen.read_pinned_pairs(tmp_path / "pairs.jsonl", sha256) == pairs
    with pytest.raises(ValueError, match="missing"):
        frozen.read_pinned_pairs(tmp_path / "gone.jsonl", sha256)
    assert frozen.corpus_key("debian_translations", lang="it") == (
        "debian_translations-lang=it"
    )


@pytest.mark.parametrize(
    "name, options",
    [
        ("debian_descriptions", {}),
        ("debian_translations", {"lang": "it"}),
        ("bible_kjv_web", {}),
        ("wordnet_definitions", {}),
    ],
)
def test_the_package_carries_each_built_in_corpus_frozen(name, options):
    """Version 2026-12-03 of each built-in corpus: 1,000 pairs, pinned, with the
    split rule and the sources' checksums."""
    pairs = frozen.frozen_test_pairs(name, "2026-12-03", **options)
    assert len(pairs) == 1000 and len(set(pairs)) == 1000
    assert all(source.strip() and target.strip() for source, target in pairs)
    entry = frozen.read_index()[frozen.corpus_key(name, **options)]["2026-12-03"]
    provenance = entry["provenance"]
    assert provenance["split_rule_version"] == SPLIT_RULE_VERSION
    assert provenance["sources"] and provenance["split_sizes"]["test"] >= 1000
