"""sha256 checksums of files, read a block at a time."""

import hashlib
import pathlib


def file_sha256(path):
    """The sha256 of a file's bytes, 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_sha256(paths):
    """`{file name: sha256}` of each file, sorted by name."""
    return {
        pathlib.Path(path).name: file_sha256(path)
        for path in sorted(paths, key=lambda path: pathlib.Path(path).name)
    }
