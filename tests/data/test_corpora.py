"""Built-in corpora: the parsing, the splits, and (slow) the real corpora."""

import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from s2s_keras.data import bible
from s2s_keras.data import debian
from s2s_keras.data import load_corpus
from s2s_keras.data import prepare_corpus
from s2s_keras.data import wordnet
from s2s_keras.data.splits import grouped_splits
from s2s_keras.data.splits import split_of
from s2s_keras.data.splits import text_key
from s2s_keras.data.splits import without_version


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


def word(number):
    """A word for a number, in letters: digits are folded when splitting."""
    letters = ""
    while True:
        number, digit = divmod(number, 26)
        letters = "abcdefghijklmnopqrstuvwxyz"[digit] + letters
        if not number:
            return letters


def test_splits_are_by_group_deterministic_and_deduplicated():
    rows = [
        {
            "source": f"text {word(index % 50)}",
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


def test_groups_that_share_a_source_text_are_split_together():
    groups = [f"package{index}" for index in range(40)]
    rows = [
        {"source": f"own text of {word(index)}", "target": "t", "group": group}
        for index, group in enumerate(groups)
    ]
    # Four groups share a boilerplate text, written with other case, spaces
    # and numbers: the four, all their rows, go to one split.
    rows += [
        {"source": f"Shared  boilerplate {index}", "target": group, "group": group}
        for index, group in enumerate(groups[:4])
    ]
    splits = grouped_splits(rows)
    homes = {
        split
        for split, found in splits.items()
        for row in found
        if row["group"] in groups[:4]
    }
    assert homes == {split_of("package0")}
    for split, found in splits.items():  # the others follow their own group
        assert all(
            split_of(row["group"]) == split
            for row in found
            if row["group"] not in groups[:4]
        )
    assert len({split for split, found in splits.items() if found}) == 3
    shares = [split_of(f"group{index}") for index in range(10_000)]
    assert 0.88 < shares.count("train") / 10_000 < 0.92


def test_a_shared_question_or_gloss_links_synsets_through_each_other():
    # a -- question -- b -- gloss -- c: one family, in the split of "a".
    # The old rule moved only the rows of a shared source, so a test
    # synset's gloss could follow a shared question into train.
    rows = [
        {"source": "What is bank?", "target": "sloping land", "group": "a"},
        {"source": "What is bank?", "target": "a financial institution", "group": "b"},
        {"source": "What is depository?", "target": "A financial institution", "group": "c"},
        {"source": "What is depository financial institution?", "target": "a place", "group": "c"},
    ]  # fmt: skip
    families = {}
    for group in "abc":
        rest = [dict(row, group=f"{group}{index}") for index, row in enumerate(rows)]
        for row in rest:  # many more synsets, each on its own
            row["source"] += f" {row['group']}x"
            row["target"] += f" {row['group']}x"
        families[group] = rest
    splits = grouped_splits(rows + families["a"] + families["b"], link_targets=True)
    where = {row["group"]: split for split, found in splits.items() for row in found}
    assert where["a"] == where["b"] == where["c"] == split_of("a")
    # Without linking targets, "c" (the gloss only) keeps its own split.
    where = {
        row["group"]: split
        for split, found in grouped_splits(rows).items()
        for row in found
    }
    assert where["c"] == split_of("c") and where["a"] == where["b"]


def test_without_whole_groups_a_shared_text_moves_only_its_rows():
    # Books as groups: a verse in two books goes with the first book, and
    # the two books keep their own splits.
    books = {"validation": "6", "test": "7", "train": "1"}
    rows = [
        {
            "source": f"verse {word(index)} of {word(int(book))}",
            "target": "t",
            "group": book,
        }
        for book in books.values()
        for index in range(5)
    ]
    rows += [
        {"source": "Shared  verse", "target": "t 7", "group": "7"},
        {"source": "shared verse", "target": "t 6", "group": "6"},
    ]
    splits = grouped_splits(rows, split_of=bible.book_split, whole_groups=False)
    for split, book in books.items():
        own = [row for row in splits[split] if row["source"].startswith("verse")]
        assert {row["group"] for row in own} == {book} and len(own) >= 5
    shared = [
        split
        for split, found in splits.items()
        for row in found
        if text_key(row["source"]) == "shared verse"
    ]
    assert shared == ["validation", "validation"]  # book "6" sorts before "7"
    merged = grouped_splits(rows, split_of=bible.book_split)
    assert not merged["test"]  # whole groups: book 7 follows book 6


def test_texts_and_package_names_are_compared_without_numbers():
    assert text_key("GCC 13  manual\n") == text_key("gcc 14 manual")
    assert text_key("gcc manual") != text_key("gcc 14 manual")
    families = {
        without_version(name)
        for name in ("llvm-toolchain-17", "llvm-toolchain-18", "llvm-toolchain-19")
    }
    assert families == {"llvm-toolchain"}
    assert without_version("gcc-13") == without_version("gcc-14") == "gcc"
    assert without_version("postgresql-15") == without_version("postgresql-16")
    assert without_version("python3.12") == without_version("python3.13")
    assert without_version("zzuf") == "zzuf" and without_version("0ad") == "ad"


def test_a_family_too_large_to_hold_out_goes_to_train():
    # 300 groups chained by shared texts (each shares one with the next):
    # one family, 300 of 700 rows, in train whatever its first group hashes to.
    chained = [
        {"source": f"link {word(index)}", "target": f"t {name}", "group": name}
        for index in range(300)
        for name in [f"chain{index:03d}", f"chain{index + 1:03d}"]
    ][:300]
    alone = [
        {"source": f"alone {letter}{word(index)}", "target": "t", "group": f"g{letter}{index}"}
        for index in range(10)
        for letter in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
    ]  # fmt: skip
    splits = grouped_splits(chained + alone, largest_held_out=0.01)
    assert {row["group"] for row in splits["train"]} >= {
        row["group"] for row in chained
    }
    held_out = splits["validation"] + splits["test"]
    assert held_out and all(row["group"].startswith("g") for row in held_out)


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


def test_two_apt_fetches_at_once_take_turns(tmp_path, monkeypatch):
    # Two recipes started together used to run `apt-get update` into the same
    # lists at once, and one failed on the other's half-written files.
    monkeypatch.setenv("S2S_KERAS_DATA", str(tmp_path))
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(os.path, "exists", lambda path: True)
    running, overlaps = [], []

    def fake_update(command, **kwargs):
        running.append(command)
        overlaps.append(len(running))
        time.sleep(0.3)
        lists = tmp_path / "apt" / "lists"
        (lists / "x_i18n_Translation-en").write_text("")
        (lists / "x_Packages").write_text("")
        running.remove(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_update)
    fetches = [
        threading.Thread(target=debian.fetch_apt_indexes, kwargs={"log": print})
        for _ in range(2)
    ]
    for fetch in fetches:
        fetch.start()
    for fetch in fetches:
        fetch.join()
    assert overlaps == [1, 1]


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
def test_real_corpus_sizes_and_no_test_text_in_train(name, options, minimum_train):
    folder = prepare_corpus(name, log=print, **options)
    splits = json.loads((folder / "manifest.json").read_text())["splits"]
    counts = {split: splits[split]["pairs"] for split in splits}
    assert counts["train"] >= minimum_train
    assert counts["validation"] > 0.03 * counts["train"]
    assert counts["test"] > 0.03 * counts["train"]

    def texts(split, field):  # case, white space and digits folded
        pairs = load_corpus(name, split, **options).as_numpy_iterator()
        side = 0 if field == "source" else 1
        return {text_key(pair[side].decode()) for pair in pairs}

    fields = ["source", "target"] if name == "wordnet_definitions" else ["source"]
    for field in fields:
        train = texts("train", field)
        shared = {
            split: len(texts(split, field) & train) for split in ("validation", "test")
        }
        print(name, options, counts, f"{field}s also in train:", shared)
        assert shared == {"validation": 0, "test": 0}


def test_an_interrupted_preparation_is_redone_and_a_failed_write_keeps_the_old_file(
    tmp_path, monkeypatch
):
    from s2s_keras.data import corpora
    from s2s_keras.utils.atomic_files import atomic_write

    monkeypatch.setenv("S2S_KERAS_DATA", str(tmp_path))
    rows = [{"source": f"s{i}", "target": f"t{i}", "group": str(i)} for i in range(3)]
    calls = []

    def build(log):
        fail = not calls
        calls.append(fail)
        splits = {"train": rows, "validation": rows[:1], "test": rows[:1]}
        if fail:  # a crash half-way: after the train split, before the test split
            splits["test"] = (row if i < 1 else 1 / 0 for i, row in enumerate(rows))
        return splits

    monkeypatch.setitem(corpora.CORPORA, "toy", build)
    with pytest.raises(ZeroDivisionError):
        corpora.prepare_corpus("toy", log=lambda _: None)
    assert not list((tmp_path / "corpora").iterdir())  # nothing half-done is left
    prepared = corpora.prepare_corpus("toy", log=lambda _: None)  # done again
    assert (prepared / "manifest.json").is_file()
    assert calls == [True, False]
    assert corpora.prepare_corpus("toy", log=lambda _: None) == prepared
    assert calls == [True, False]  # ready: not built a third time
    pairs = corpora.load_corpus("toy", "train", log=lambda _: None)
    assert sorted(source.decode() for source, _ in pairs.as_numpy_iterator()) == [
        "s0",
        "s1",
        "s2",
    ]

    target = tmp_path / "vocabulary.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as file:
        file.write("half of the new")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
