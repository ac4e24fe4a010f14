"""Presets by URL: a `.tar.gz` archive pinned by its sha256, fetched once, cached.

    presets.load("https://example.org/my_preset.tar.gz", sha256="9f86d0...")
    presets.load("https://example.org/my_preset.tar.gz#sha256=9f86d0...")

`python -m s2s_keras.presets pack NAME OUT.tar.gz` writes such an archive (the
preset's folder, at its top) and prints the line that loads it.

The archive is fetched and unpacked by `keras.utils.get_file` (which checks the
sha256) into a staging folder of the cache, `~/.cache/s2s_keras/presets/` (or
`$S2S_KERAS_CACHE/presets/`), and moved to `<cache>/presets/<sha256>/` with one
rename once it is whole: an entry is complete or absent. Before it is
unpacked, every member is checked: an absolute path, a `..`, a link, a device
or anything outside the preset's folder is refused. A wrong checksum, a
missing file (404), a cut archive or a hostile one raise a `ValueError` naming
the URL, and leave nothing in the cache.
"""

import os
import pathlib
import re
import shutil
import tarfile
import tempfile
import urllib.parse

import keras

from s2s_keras.utils.checksums import file_sha256

SCHEMES = ("https", "http", "file")
CONFIG = "config.json"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def cache_folder():
    """Where fetched presets are kept: `$S2S_KERAS_CACHE/presets` or
    `~/.cache/s2s_keras/presets`."""
    base = (
        os.environ.get("S2S_KERAS_CACHE")
        or pathlib.Path.home() / ".cache" / "s2s_keras"
    )
    return pathlib.Path(base).expanduser() / "presets"


def is_url(name_or_path):
    """Whether `name_or_path` is a URL this module fetches (`https://`, `file://`, ...)."""
    return (
        isinstance(name_or_path, str)
        and urllib.parse.urlsplit(name_or_path).scheme in SCHEMES
    )


def fetch(url, sha256=None):
    """The local folder of the preset archived at `url`, fetched once.

    Args:
        url: `https://`, `http://` or `file://` URL of a `.tar.gz` made by
            `pack`; it may end in `#sha256=...` instead of `sha256`.
        sha256: the archive's sha256, 64 hex digits.

    Returns:
        The preset folder, a `pathlib.Path` in the cache.

    Raises:
        ValueError: no sha256, a wrong one, the URL not found, or an
            archive that is cut, hostile or holds no preset.
    """
    url, sha256 = _pinned(url, sha256)
    entry = cache_folder() / sha256
    found = _preset_in(entry)
    if found is not None:
        return found
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{sha256[:12]}.", dir=entry.parent)
    )
    try:
        root = _checked_root(_download(url, sha256, staging), url)
        # The same call, now to unpack: it finds the checked archive in place.
        unpacked = _get_file(url, sha256, staging, extract=True)
        if _preset_in(unpacked / root) is None:
            raise ValueError(
                f"The archive at {url} holds no preset: no {root}/{CONFIG}"
            )
        whole = staging / "whole"
        whole.mkdir()
        (unpacked / root).rename(whole / root)
        try:
            os.rename(whole, entry)  # one rename: the entry is whole or absent
        except OSError:  # another process put it there first
            if _preset_in(entry) is None:
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _preset_in(entry)


def _pinned(url, sha256):
    parts = urllib.parse.urlsplit(url)
    fragment = urllib.parse.parse_qs(parts.fragment).get("sha256", [None])[0]
    if fragment and sha256 and fragment.lower() != sha256.lower():
        raise ValueError(
            f"Two different sha256 for {url}: {fragment} in the URL, {sha256} given"
        )
    sha256 = (sha256 or fragment or "").lower()
    if not SHA256.match(sha256):
        raise ValueError(
            f"A preset URL is loaded pinned by the archive's sha256 (64 hex digits): "
            f"presets.load(url, sha256=...) or a URL ending in #sha256=...; got "
            f"sha256={sha256 or None!r} for {url}"
        )
    return urllib.parse.urlunsplit(parts._replace(fragment="")), sha256


def _get_file(url, sha256, staging, extract=False):
    """`keras.utils.get_file` into `staging/download/`: the archive's path,
    or with `extract` the folder it was unpacked into."""
    return pathlib.Path(
        keras.utils.get_file(
            fname="preset.tar.gz",
            origin=url,
            file_hash=sha256,
            hash_algorithm="sha256",
            cache_dir=str(staging),
            cache_subdir="download",
            extract=extract,
        )
    )


def _download(url, sha256, staging):
    """The archive, fetched and checked by `keras.utils.get_file`."""
    try:
        path = _get_file(url, sha256, staging)
    except ValueError as error:  # the checksum
        raise ValueError(
            f"The archive at {url} is not the one pinned (sha256 {sha256}): cut "
            f"short, or changed. {error}"
        ) from None
    except Exception as error:  # noqa: BLE001  (get_file raises Exception for a 404)
        raise ValueError(f"Could not fetch the preset {url}: {error}") from None
    return path


def _checked_root(archive, url):
    """The archive's one top folder, once every member is a plain file or
    folder inside it; a `ValueError` for anything else."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ValueError(f"The archive at {url} is not a .tar.gz: {error}") from None
    roots = set()
    for member in members:
        parts = pathlib.PurePosixPath(member.name).parts
        unsafe = (
            member.name.startswith("/")
            or ".." in parts
            or not (member.isfile() or member.isdir())
        )
        if unsafe or not parts:
            raise ValueError(
                f"The archive at {url} holds {member.name!r}, which is not a plain "
                "file or folder inside the preset's folder: refused, nothing unpacked"
            )
        roots.add(parts[0])
    if len(roots) != 1:
        raise ValueError(
            f"The archive at {url} should hold one folder, the preset's; it holds "
            f"{sorted(roots)[:5]}"
        )
    return roots.pop()


def _preset_in(folder):
    """The preset folder under a cache entry, or None if it is not whole."""
    if not folder.is_dir():
        return None
    if (folder / CONFIG).is_file():
        return folder
    inside = [path for path in folder.iterdir() if (path / CONFIG).is_file()]
    return inside[0] if len(inside) == 1 else None


def pack(folder, archive):
    """Writes a preset folder as a `.tar.gz` archive; returns its sha256.

    Args:
        folder: a preset folder (`config.json`, `weights.npz`, ...).
        archive: the `.tar.gz` to write (replaced if it exists).

    Returns:
        The archive's sha256, 64 hex digits, to pin it with.
    """
    folder = pathlib.Path(folder)
    archive = pathlib.Path(archive)
    staged = archive.with_name(f".{archive.name}.partial")
    with tarfile.open(staged, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                info = tar.gettarinfo(path, f"{folder.name}/{path.relative_to(folder)}")
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                with open(path, "rb") as file:
                    tar.addfile(info, file)
    os.replace(staged, archive)
    return file_sha256(archive)
