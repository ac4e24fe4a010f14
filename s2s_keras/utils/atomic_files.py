"""Writes that a crash never leaves half-done: files, weights and folders.

Every writer of s2s_keras that replaces something a reader may look at goes
through here: the corpora's prepared splits and manifest, the tokenizer, the
training backup, the trained model kept until export, and the export
directory. A reader sees the old content or the whole new one, never a part.

- `atomic_write(path)`: an open file, renamed onto `path` when the block ends.
- `atomic_path(path)`: a path for writers that take one (`model.save`).
- `move_into_place(source, destination)`: a finished file or folder put at
  `destination` with one rename (folders: one atomic exchange on Linux).
"""

import contextlib
import ctypes
import os
import pathlib
import shutil
import tempfile


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


FILE_MODE = 0o644  # what open() gives a new file under the usual umask


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
    os.chmod(temporary, FILE_MODE)  # mkstemp's is 0o600
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


def move_into_place(source, destination):
    """Puts `source` at `destination`, replacing a file or a folder.

    A file is replaced by one `os.replace`. A folder is swapped in with one
    atomic exchange of the two names (Linux `renameat2(RENAME_EXCHANGE)`),
    so at every instant `destination` is the old folder or the new one,
    whole; where the exchange is not available, the old folder is renamed
    aside first, and a crash between the two renames leaves it beside the
    new place as `.<name>.old`.
    """
    if not (source.is_dir() and destination.exists()):
        os.replace(source, destination)
        return
    if _exchange(source, destination):
        shutil.rmtree(source, ignore_errors=True)  # now the old folder
        return
    retired = destination.with_name(f".{destination.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    os.replace(destination, retired)
    os.replace(source, destination)
    shutil.rmtree(retired, ignore_errors=True)


def _exchange(first, second):
    """Atomically swaps two paths; False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(
        at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange
    )
    return result == 0
