"""Deterministic train / validation / test assignment by a group key."""

import zlib

SPLITS = ("train", "validation", "test")
SPLIT_PERCENT = {"train": 90, "validation": 5, "test": 5}


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


def grouped_splits(rows, split_of=split_of):
    """Rows `{"source", "target", "group"}` -> split name -> sorted unique rows.

    A row goes to the split of its group, except that a source text found in
    several groups (one description shared by two source packages, a verse
    repeated in two books) goes, with all its rows, to the split of the first
    of those groups by name: no source text is in two splits.

    Args:
        rows: iterable of dicts; rows with an empty side are dropped, and
            repeated (source, target) pairs kept once.
        split_of: callable, group -> split name.
    """
    rows = [row for row in rows if row["source"] and row["target"]]
    home = {}  # source text -> the group whose split it follows
    for row in rows:
        group = row["group"]
        if row["source"] not in home or str(group) < str(home[row["source"]]):
            home[row["source"]] = group
    splits = {split: {} for split in SPLITS}
    for row in rows:
        split = split_of(home[row["source"]])
        splits[split].setdefault((row["source"], row["target"]), row)
    return {
        split: sorted(
            found.values(), key=lambda row: (str(row["group"]), row["source"])
        )
        for split, found in splits.items()
    }
