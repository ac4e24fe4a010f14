"""Generative question answering: "What is <lemma>?" -> its WordNet gloss.

Debian's `wordnet-base` package holds the WordNet 3.0 database. It is
fetched with `apt-get download` and unpacked with `dpkg-deb -x` into the
s2s_keras cache: no root needed, nothing installed on the system. Every
lemma of every synset gives one question; the answer is the synset's
definition (the gloss without its quoted examples). Split by synset, with
synsets that share a question or a gloss kept together, so no question and
no definition appears in two splits.
"""

import subprocess

from s2s_keras.data.cache import cache_dir
from s2s_keras.data.debian import NO_APT_HINT
from s2s_keras.data.debian import fetch_apt_indexes
from s2s_keras.data.splits import grouped_splits
from s2s_keras.utils.checksums import files_sha256

PARTS_OF_SPEECH = ("noun", "verb", "adj", "adv")


def fetch_wordnet(log=print):
    """Downloads and unpacks `wordnet-base`; returns its `wordnet` folder."""
    root = cache_dir("wordnet")
    folder = root / "unpacked" / "usr" / "share" / "wordnet"
    if (folder / "data.noun").is_file():
        return folder
    lists = fetch_apt_indexes(("en",), log=log)
    apt_root = lists.parent
    log("Downloading Debian's wordnet-base ...")
    download = subprocess.run(
        [
            "apt-get",
            "download",
            "-o",
            f"Dir::State::Lists={lists}",
            "-o",
            f"Dir::Cache={apt_root / 'cache'}",
            "-o",
            "Debug::NoLocking=1",
            "wordnet-base",
        ],
        cwd=root,
        capture_output=True,
        text=True,
    )
    packages = sorted(root.glob("wordnet-base_*.deb"))
    if download.returncode != 0 or not packages:
        raise ValueError(
            "Could not download wordnet-base: "
            f"{download.stderr.strip()[-500:]}\n" + NO_APT_HINT
        )
    unpack = subprocess.run(
        ["dpkg-deb", "-x", str(packages[-1]), str(root / "unpacked")],
        capture_output=True,
        text=True,
    )
    if unpack.returncode != 0 or not (folder / "data.noun").is_file():
        raise ValueError(f"Could not unpack {packages[-1]}: {unpack.stderr.strip()}")
    return folder


def package_checksums():
    """`{file: sha256}` of the `wordnet-base` package the corpus is read from."""
    return files_sha256(cache_dir("wordnet").glob("wordnet-base_*.deb"))


def parse_data_line(line):
    """One `data.POS` line -> (synset id, lemmas, definition), or None."""
    if line.startswith("  "):  # the license header
        return None
    fields, _, gloss = line.partition(" | ")
    parts = fields.split()
    offset, pos, word_count = parts[0], parts[2], int(parts[3], 16)
    lemmas = [parts[4 + 2 * index].replace("_", " ") for index in range(word_count)]
    lemmas = [lemma.split("(")[0] for lemma in lemmas]  # adjective markers: "(a)"
    definition = gloss.split('; "')[0].strip().rstrip(";").strip()
    return f"{offset}-{pos}", lemmas, definition


def definition_pairs(log=print):
    """("What is <lemma>?", definition) pairs, split by linked synsets.

    Returns:
        A dict split name -> list of `{"source", "target", "group"}` dicts
        (group: the synset).
    """
    folder = fetch_wordnet(log=log)
    log("Reading WordNet glosses ...")
    rows = []
    for part in PARTS_OF_SPEECH:
        with open(folder / f"data.{part}", encoding="utf-8") as file:
            for line in file:
                parsed = parse_data_line(line)
                if parsed is None:
                    continue
                synset, lemmas, definition = parsed
                rows += [
                    {
                        "source": f"What is {lemma}?",
                        "target": definition,
                        "group": synset,
                    }
                    for lemma in lemmas
                ]
    # A question ("What is bank?") asked of several synsets, or a gloss
    # shared by two, links them: linked synsets go to one split together.
    # The common words' senses chain into one family of a third of the
    # questions: that one goes to train.
    return grouped_splits(rows, link_targets=True, largest_held_out=0.01)
