"""Built-in corpora: the parsing, the splits, and (slow) the real corpora."""

import json
import shutil

import pytest

from s2s_keras.data import bible
from s2s_keras.data import debian
from s2s_keras.data import load_corpus
from s2s_keras.data import prepare_corpus
from s2s_keras.data import wordnet
from s2s_keras.data.splits import grouped_splits
from s2s_keras.data.splits import split_of


def test_description_markup_becomes_plain_paragraphs():
    markup = (
        "Zzuf is a transparent\n"
        "fuzzer.\n"
        ".\n"
        "Features:\n"
        " * verbatim item one\n"
        " * verbatim item two\n"
        ".\n"
        "Last paragraph."
    )
    assert debian.description_paragraphs(markup) == [
        "Zzuf is a transparent fuzzer.",
        "Features:\n* verbatim item one\n* verbatim item two",
        "Last paragraph.",
    ]


def test_stanzas_keep_continuation_lines(tmp_path):
    index = tmp_path / "Translation-en"
    index.write_text(
        "Package: zzuf\nDescription-md5: abc\nDescription-en: fuzzer\n"
        " Zzuf is a fuzzer.\n .\n More.\n\nPackage: b\nDescription-md5: def\n"
        "Description-en: other\n"
    )
    stanzas = list(debian.read_stanzas(index))
    assert stanzas[0]["Description-en"] == "fuzzer\nZzuf is a fuzzer.\n.\nMore."
    assert stanzas[1] == {
        "Package": "b",
        "Description-md5": "def",
        "Description-en": "other",
    }


def test_splits_are_by_group_deterministic_and_deduplicated():
    rows = [
        {
            "source": f"text {index % 50}",
            "target": "t",
            "group": f"package{index % 50 % 7}",
        }
        for index in range(200)
    ]
    splits = grouped_splits(rows)
    assert splits == grouped_splits(list(reversed(rows)))
    assert sum(len(found) for found in splits.values()) == 50  # duplicates dropped
    for split, found in splits.items():
        assert all(split_of(row["group"]) == split for row in found)


def test_a_source_text_shared_by_groups_stays_in_one_split():
    groups = [f"package{index}" for index in range(40)]
    rows = [
        {"source": f"own text of {group}", "target": "t", "group": group}
        for group in groups
    ]
    rows += [
        {"source": "shared boilerplate", "target": group, "group": group}
        for group in groups
    ]
    splits = grouped_splits(rows)
    homes = [
        split
        for split, found in splits.items()
        if any(row["source"] == "shared boilerplate" for row in found)
    ]
    assert homes == [split_of("package0")]  # all 40 of its rows, in one split
    for split, found in splits.items():  # the rest follows its own group
        own = [row for row in found if row["source"].startswith("own")]
        assert all(split_of(row["group"]) == split for row in own)
    assert len({split for split, found in splits.items() if found}) == 3
    shares = [split_of(f"group{index}") for index in range(10_000)]
    assert 0.88 < shares.count("train") / 10_000 < 0.92


def test_bible_cleaning():
    assert (
        bible.clean_kjv("darkness [was] upon  the deep") == "darkness was upon the deep"
    )
    assert bible.clean_web("God`s Spirit was   hovering") == "God's Spirit was hovering"
    assert {bible.book_split(book) for book in (6, 44)} == {"validation"}
    assert {bible.book_split(book) for book in (7, 42)} == {"test"}
    assert bible.book_split(1) == "train"


def test_wordnet_data_line():
    line = (
        "00001740 29 v 04 breathe 0 take_a_breath 0 respire 0 suspire 3 021 "
        '@ 00001740 v 0000 | draw air into, and expel out of, the lungs; "I can '
        'breathe better now"  \n'
    )
    synset, lemmas, definition = wordnet.parse_data_line(line)
    assert synset == "00001740-v"
    assert lemmas == ["breathe", "take a breath", "respire", "suspire"]
    assert definition == "draw air into, and expel out of, the lungs"
    assert wordnet.parse_data_line("  1 This software and database ...") is None


def test_without_apt_the_error_says_what_to_do(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match="no apt.*--data FILE.*--tfds NAME"):
        debian.fetch_apt_indexes()


def test_unknown_corpus_and_split():
    with pytest.raises(
        ValueError, match="Unknown corpus 'wikipedia'.*debian_descriptions"
    ):
        prepare_corpus("wikipedia")
    with pytest.raises(ValueError, match="split.*Received: split='dev'"):
        load_corpus("debian_descriptions", "dev")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, options, minimum_train",
    [
        ("debian_descriptions", {}, 50_000),
        ("debian_translations", {"lang": "it"}, 90_000),
        ("bible_kjv_web", {}, 25_000),
        ("wordnet_definitions", {}, 150_000),
    ],
)
def test_real_corpus_sizes_and_no_test_source_in_train(name, options, minimum_train):
    folder = prepare_corpus(name, log=print, **options)
    counts = json.loads((folder / "manifest.json").read_text())["pairs"]
    print(name, options, counts)
    assert counts["train"] >= minimum_train
    assert counts["validation"] > 0.03 * counts["train"]
    assert counts["test"] > 0.03 * counts["train"]

    def sources(split):
        with open(folder / f"{split}.jsonl", encoding="utf-8") as file:
            return {json.loads(line)["source"] for line in file}

    assert not sources("test") & sources("train")
    assert not sources("validation") & sources("train")


def test_an_interrupted_preparation_is_redone_and_a_failed_write_keeps_the_old_file(
    tmp_path, monkeypatch
):
    from s2s_keras.data import corpora
    from s2s_keras.data.cache import atomic_write

    monkeypatch.setenv("S2S_KERAS_DATA", str(tmp_path))
    rows = [{"source": f"s{i}", "target": f"t{i}", "group": str(i)} for i in range(3)]
    calls = []

    def build(log):
        fail = not calls
        calls.append(fail)
        splits = {"train": rows, "validation": rows[:1], "test": rows[:1]}
        if fail:  # a crash half-way: after train.jsonl, before the manifest
            splits["test"] = (row if i < 1 else 1 / 0 for i, row in enumerate(rows))
        return splits

    monkeypatch.setitem(corpora.CORPORA, "toy", build)
    with pytest.raises(ZeroDivisionError):
        corpora.prepare_corpus("toy", log=lambda _: None)
    (broken,) = (tmp_path / "corpora").iterdir()
    assert (broken / "train.jsonl").is_file()
    assert not (broken / "manifest.json").exists()
    assert not (broken / "test.jsonl").exists()  # no half-written split
    assert not [path for path in broken.iterdir() if path.name.startswith(".")]
    prepared = corpora.prepare_corpus("toy", log=lambda _: None)  # done again
    assert prepared == broken and (prepared / "manifest.json").is_file()
    assert calls == [True, False]
    assert corpora.prepare_corpus("toy", log=lambda _: None) == prepared
    assert calls == [True, False]  # ready: not built a third time

    target = tmp_path / "vocabulary.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as file:
        file.write("half of the new")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
