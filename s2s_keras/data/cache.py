"""Where prepared data lives."""

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
