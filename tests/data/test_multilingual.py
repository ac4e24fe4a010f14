"""A multilingual corpus: target tags, Debian's translations into several
languages, and a frozen test split that holds every language."""

import pytest

from s2s_keras.data import debian
from s2s_keras.data import frozen
from s2s_keras.special_tokens import check_target_tags
from s2s_keras.special_tokens import leading_target_tag
from s2s_keras.special_tokens import target_tag
from s2s_keras.special_tokens import without_target_tag
from s2s_keras.training import tasks


def test_target_tags_are_read_and_checked():
    assert target_tag("de") == "<2de>" and target_tag("pt_BR") == "<2pt_BR>"
    for bad in ("", "german", "d e", "de>", 7):
        with pytest.raises(ValueError, match="language code"):
            target_tag(bad)
    assert leading_target_tag("  <2de> Show the version") == "<2de>"
    assert leading_target_tag("Show <2de>") is None
    assert leading_target_tag("<2 de> x") is None
    assert leading_target_tag("<2dex> x") == "<2dex>"  # a tag, of no model here
    assert without_target_tag("<2de> Show it") == "Show it"
    assert without_target_tag("Show <2de> it") == "Show <2de> it"
    check_target_tags(["anything"], ())  # a model of one language takes any text
    check_target_tags(["<2de> a", " <2fr>b"], ("<2de>", "<2fr>"))
    with pytest.raises(ValueError, match=r"<2de> <2fr>.*texts\[1\]='<2it> b'"):
        check_target_tags(["<2de> a", "<2it> b"], ("<2fr>", "<2de>"))
    with pytest.raises(ValueError, match="tag of one.*texts\\[0\\]='no tag'"):
        check_target_tags(["no tag"], ("<2de>",))


def stanzas(*rows):
    return "".join(
        "".join(f"{key}: {value}\n" for key, value in row.items()) + "\n"
        for row in rows
    )


@pytest.fixture
def lists(tmp_path, monkeypatch):
    """apt lists of 40 packages: English, German, and Brazilian Portuguese
    (whose file name apt writes with `%5f`) for every third package."""
    packages, english, german, portuguese = [], [], [], []
    for index in range(40):
        md5 = f"md5{index}"
        # Packages 0 and 20 share an English synopsis (but not their group).
        synopsis = (
            "shared tool"
            if index in (0, 20)
            else f"tool number {chr(97 + index % 26)}{index // 26}"
        )
        packages.append({"Package": f"p{index}", "Description-md5": md5})
        english.append({"Description-md5": md5, "Description-en": synopsis})
        german.append({"Description-md5": md5, "Description-de": f"Werkzeug {index}"})
        if index % 3 == 0:
            portuguese.append(
                {"Description-md5": md5, "Description-pt_BR": f"ferramenta {index}"}
            )
    files = {
        "x_Packages": packages,
        "x_i18n_Translation-en": english,
        "x_i18n_Translation-de": german,
        "x_i18n_Translation-pt%5fBR": portuguese,
    }
    for name, rows in files.items():
        (tmp_path / name).write_text(stanzas(*rows))
    fetched = []

    def fetch(languages, log=print):
        fetched.append(tuple(languages))
        return tmp_path

    monkeypatch.setattr(debian, "fetch_apt_indexes", fetch)
    return tmp_path, fetched


def test_apt_list_names_are_unescaped_for_languages_with_a_region(lists):
    folder, _ = lists
    assert [path.name for path in debian.translation_files(folder, "pt_BR")] == [
        "x_i18n_Translation-pt%5fBR"
    ]
    assert debian.translation_files(folder, "pt") == []  # not pt_BR's
    assert debian.fetched_languages(folder) == {"en", "de", "pt_BR"}
    assert len(debian.descriptions(folder, "pt_BR")) == 14


def test_a_multilingual_corpus_tags_sources_and_splits_an_english_text_once(lists):
    _, fetched = lists
    splits = debian.translation_pairs("de,pt_BR")
    assert fetched == [("en", "de", "pt_BR")]
    rows = [row for split in splits.values() for row in split]
    tags = [leading_target_tag(row["source"]) for row in rows]
    assert tags.count("<2de>") == 40 and tags.count("<2pt_BR>") == 14
    german = next(row for row in rows if row["target"] == "Werkzeug 7")
    assert german["source"] == "<2de> tool number h0"
    # Every English text (its tag left out) is in one split only, whatever the
    # language: packages 0 and 20 share one, and go together.
    split_of = {}
    for split, found in splits.items():
        for row in found:
            split_of.setdefault(without_target_tag(row["source"]), set()).add(split)
    assert all(len(found) == 1 for found in split_of.values())
    assert len([row for row in rows if "shared tool" in row["source"]]) == 3
    # One language is the corpus of before: untagged sources.
    single = debian.translation_pairs("de")
    assert all(leading_target_tag(row["source"]) is None for row in single["train"])
    for bad in ("de,de", "en,de"):
        with pytest.raises(ValueError, match="lang"):
            debian.translation_pairs(bad)


def test_a_frozen_multilingual_split_takes_each_language_in_turn(tmp_path, monkeypatch):
    import tensorflow as tf

    test = [(f"<2de> de {i}", f"d{i}") for i in range(5)]
    test += [(f"<2pt_BR> pt {i}", f"p{i}") for i in range(2)]
    test += [(f"<2fr> fr {i}", f"f{i}") for i in range(4)]
    from s2s_keras.data import corpora

    monkeypatch.setattr(
        corpora,
        "corpus_provenance",
        lambda name, **options: {"prepared": "2026-12-07", "corpus": name},
    )
    monkeypatch.setattr(
        corpora,
        "load_corpus",
        lambda name, split, **options: tf.data.Dataset.from_tensor_slices(
            ([s for s, _ in test], [t for _, t in test])
        ),
    )
    entry = frozen.freeze(
        "debian_translations", pairs=3, folder=tmp_path, lang="de,fr,pt_BR"
    )
    pairs = frozen.frozen_test_pairs(
        "debian_translations", "2026-12-07", folder=tmp_path, lang="de,fr,pt_BR"
    )
    assert entry["pairs"] == 8 == len(pairs)
    assert [source for source, _ in pairs] == [
        "<2de> de 0", "<2fr> fr 0", "<2pt_BR> pt 0",
        "<2de> de 1", "<2fr> fr 1", "<2pt_BR> pt 1",
        "<2de> de 2", "<2fr> fr 2",
    ]  # fmt: skip
    # A corpus of one language keeps its first pairs, as before.
    test[:] = [(f"s{i}", f"t{i}") for i in range(5)]
    frozen.freeze("debian_translations", pairs=3, folder=tmp_path, lang="it")
    pairs = frozen.frozen_test_pairs(
        "debian_translations", "2026-12-07", folder=tmp_path, lang="it"
    )
    assert pairs == [("s0", "t0"), ("s1", "t1"), ("s2", "t2")]


def test_scores_by_target_language_and_a_copy_baseline_without_the_tag():
    task = tasks.get("translate")
    test_pairs = [
        ("<2de> the tool", "das Werkzeug"),
        ("<2fr> the tool", "l'outil"),
        ("<2de> a new tool", "ein neues Werkzeug"),
    ]
    outputs = ["das Werkzeug", "outil", "ein Werkzeug"]
    by_target = task.scores_by_target_tag([], test_pairs, outputs, "model")
    assert list(by_target) == ["<2de>", "<2fr>"]
    german = task.baseline_scores([], [test_pairs[0], test_pairs[2]])
    assert by_target["<2de>"]["copy source"] == german["copy source"]
    assert by_target["<2de>"]["model"]["chrf"] > by_target["<2fr>"]["model"]["chrf"]
    _, copied = tasks.copy_source([], ["<2de> the tool", "plain"])
    assert copied == ["the tool", "plain"]
    assert task.scores_by_target_tag([], [("a", "b")], ["b"], "model") == {}


def test_a_fetch_asks_again_for_the_languages_fetched_before(tmp_path, monkeypatch):
    # apt deletes the lists of the languages it is not asked for: fetching
    # English for the summarizer used to delete the translator's Italian.
    import os
    import shutil
    import subprocess

    monkeypatch.setenv("S2S_KERAS_DATA", str(tmp_path))
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(os.path, "exists", lambda path: True)
    lists = tmp_path / "apt" / "lists"
    lists.mkdir(parents=True)
    for name in (
        "x_Packages",
        "x_i18n_Translation-it.lz4",
        "x_i18n_Translation-pt%5fBR",
    ):
        (lists / name).write_text("")
    commands = []

    def update(command, **kwargs):
        commands.append(command)
        (lists / "x_i18n_Translation-en").write_text("")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", update)
    debian.fetch_apt_indexes(("en",), log=print)
    assert "Acquire::Languages=en,it,pt_BR" in commands[0]
