"""A preset's export, made once and kept: what the server loads on each start.

`python -m s2s_keras.serve NAME` serves a preset through its SavedModel.
Writing that export traces every signature (about 10 s on 2 cores); loading
one that exists takes a fraction of it. So the export is written once into
the cache, `~/.cache/s2s_keras/exports/NAME-FINGERPRINT/` (`$S2S_KERAS_CACHE`
moves it), where the fingerprint is the sha256 of the preset's files and of
the s2s_keras and TensorFlow versions that write it: a changed preset or a
new release gets a new folder, never a stale one. Two processes that start at
once take turns (a lock file), and the export appears whole or not at all
(`write_export` moves each entry into place).
"""

import hashlib
import pathlib

from s2s_keras._version import __version__
from s2s_keras.data.cache import exclusive_lock
from s2s_keras.presets import remote
from s2s_keras.presets.preset import find
from s2s_keras.presets.preset import load
from s2s_keras.utils.checksums import file_sha256

READY = "export.json"  # written by write_export once the SavedModel is in place


def exports_folder():
    """Where preset exports are kept: beside the fetched presets."""
    return remote.cache_folder().parent / "exports"


def fingerprint(folder):
    """The sha256 of a preset folder's files and of the versions that export it."""
    import tensorflow as tf

    digest = hashlib.sha256(
        f"s2s_keras {__version__}, tensorflow {tf.__version__}\n".encode()
    )
    folder = pathlib.Path(folder)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(
                f"{path.relative_to(folder).as_posix()} {file_sha256(path)}\n".encode()
            )
    return digest.hexdigest()


def cached_export(name_or_path, log=print):
    """The export folder of a preset (without TFLite), written on first use.

    Args:
        name_or_path: a preset's name, folder or URL (as `presets.load` takes).
        log: callable for the one progress message of a first export.

    Returns:
        The export folder, a `pathlib.Path` holding `saved_model/` and
        `export.json`.
    """
    folder = find(name_or_path)
    target = exports_folder() / f"{folder.name}-{fingerprint(folder)[:16]}"
    if (target / READY).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(target.parent / f"{target.name}.lock"):
        if not (target / READY).is_file():  # another process may have made it
            log(f"Exporting the preset {folder.name} (once; kept in {target}) ...")
            load(folder).export(target, tflite=False)
    return target
