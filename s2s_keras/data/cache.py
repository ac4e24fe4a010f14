"""Where prepared data lives, and writes that a crash never leaves half-done."""

import contextlib
import os
import pathlib
import tempfile


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
def atomic_path(path):
    """A temporary path beside `path`, renamed onto it when the block succeeds.

    For writers that take a path rather than a file (`model.save`,
    `model.save_weights`): the temporary name keeps `path`'s ending
    (`.keras`, `.weights.h5`), and a crash inside the block leaves `path`
    as it was.

    Yields:
        The temporary `pathlib.Path`.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".partial.{path.name}")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def atomic_write(path, mode="w", encoding="utf-8"):
    """Opens a temporary file beside `path` and renames it into place on success.

    Readers see either the old file or the whole new one, never a part: a
    crash or an exception inside the block leaves `path` as it was.

    Args:
        path: the final file path.
        mode: `"w"` (text) or `"wb"` (bytes).
        encoding: text encoding for `"w"`.

    Yields:
        The open temporary file.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with open(handle, mode, encoding=None if "b" in mode else encoding) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
