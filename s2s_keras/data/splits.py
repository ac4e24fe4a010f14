"""Deterministic train / validation / test assignment by a group key."""

import collections
import re
import zlib

SPLITS = ("train", "validation", "test")
SPLIT_PERCENT = {"train": 90, "validation": 5, "test": 5}
# The rule that assigns a row to its split, recorded with every prepared corpus
# and model card. 1: a CRC-32 of each group's name, 90 / 5 / 5. 2 (`grouped_splits`):
# rows that share a folded text (and groups that differ only in version numbers)
# are one family, which goes to the split of its first group by name.
SPLIT_RULE_VERSION = 2


def split_of(group):
    """The split of a group (a source package, a Bible book, a synset).

    A fixed hash of the group's name, so every member of a group lands in the
    same split on every machine, about 90 / 5 / 5 percent of groups.
    """
    bucket = zlib.crc32(str(group).encode("utf-8")) % 100
    if bucket < SPLIT_PERCENT["train"]:
        return "train"
    if bucket < SPLIT_PERCENT["train"] + SPLIT_PERCENT["validation"]:
        return "validation"
    return "test"


def text_key(text):
    """A text with case, white space and digits folded: the key leaks are found by.

    Two texts that differ only there (`"gcc 13 manual"`, `"GCC 14  manual"`)
    count as the same text: a model that copies the source would copy the
    number, so one in train and the other in test would be a leak.
    """
    return " ".join(re.sub(r"\d+", "0", text.casefold()).split())


def without_version(name):
    """A package name with its version numbers taken out.

    `llvm-toolchain-17` and `llvm-toolchain-18`, `gcc-13` and `gcc-14`,
    `python3.12` and `python3.13` are one family, split together.
    """
    return re.sub(r"[-.+~_]?\d+", "", name) or name


class _Components:
    """Union-find: which keys are linked, directly or through others."""

    def __init__(self):
        self.parent = {}

    def find(self, key):
        self.parent.setdefault(key, key)
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:  # path compression
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, first, second):
        first, second = self.find(first), self.find(second)
        if first != second:
            self.parent[second] = first


def grouped_splits(
    rows,
    split_of=split_of,
    link_targets=False,
    whole_groups=True,
    largest_held_out=None,
    source_key=text_key,
):
    """Rows `{"source", "target", "group"}` -> split name -> sorted unique rows.

    Rows that share a source text (compared by `text_key`: case, white space
    and digits folded), and with `link_targets` also a target text, are one
    family, directly or through other rows (union-find); with `whole_groups`
    all the rows of a group are one family too, so groups that share a text
    are merged. Each family goes to the split of its first group by name. So
    no source text (nor, with `link_targets`, target text) is in two splits,
    and with `whole_groups` no group straddles two.

    With `largest_held_out`, a family of more than that share of all rows
    goes to train: one such family in a held-out split would be most of it
    (in WordNet the common words' senses chain into one family of a third of
    the questions).

    Args:
        rows: iterable of dicts; rows with an empty side are dropped, and
            repeated (source, target) pairs kept once.
        split_of: callable, group -> split name.
        link_targets: bool, whether a shared target text links rows too (a
            gloss shared by two synsets). Defaults to `False`.
        whole_groups: bool, whether a group is never split. Defaults to
            `True`; `False` where groups are large and chosen on purpose (the
            Bible's books): a shared text then moves only the rows it links.
        largest_held_out: optional float, the largest share of the rows one
            family may have outside train. Defaults to `None`, no limit.
        source_key: callable, a source text -> the key that links rows
            (`text_key`; a multilingual corpus leaves the target's tag out).
    """
    rows = [row for row in rows if row["source"] and row["target"]]
    families = _Components()
    fields = ("source", "target") if link_targets else ("source",)
    nodes = [
        ("group", str(row["group"])) if whole_groups else ("row", index)
        for index, row in enumerate(rows)
    ]
    keys = {"source": source_key, "target": text_key}
    for row, node in zip(rows, nodes, strict=True):
        for field in fields:
            families.union(node, (field, keys[field](row[field])))
    family_of = [families.find(node) for node in nodes]
    sizes = collections.Counter(family_of)
    first_group = {}
    for row, family in zip(rows, family_of, strict=True):
        if family not in first_group or str(row["group"]) < str(first_group[family]):
            first_group[family] = row["group"]
    splits = {split: {} for split in SPLITS}
    for row, family in zip(rows, family_of, strict=True):
        large = largest_held_out and sizes[family] > largest_held_out * len(rows)
        split = "train" if large else split_of(first_group[family])
        splits[split].setdefault((row["source"], row["target"]), row)
    return {
        split: sorted(
            found.values(), key=lambda row: (str(row["group"]), row["source"])
        )
        for split, found in splits.items()
    }
