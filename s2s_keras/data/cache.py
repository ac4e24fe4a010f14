"""Where prepared data lives."""

import contextlib
import fcntl
import os
import pathlib


def cache_dir(*parts):
    """The s2s_keras cache folder, `$S2S_KERAS_DATA` or `~/.cache/s2s_keras`.

    Args:
        *parts: sub-folders below the cache root; created if missing.

    Returns:
        A `pathlib.Path`.
    """
    root = (
        os.environ.get("S2S_KERAS_DATA") or pathlib.Path.home() / ".cache" / "s2s_keras"
    )
    path = pathlib.Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def exclusive_lock(path):
    """Holds an exclusive lock on the file `path` (created if missing).

    Two programs that fill the same cache folder at once, e.g. two recipes
    started together, take turns: the second waits until the first is done.

    Args:
        path: the lock file, a `str` or `pathlib.Path`.
    """
    with open(path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
