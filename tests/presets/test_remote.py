"""Presets by URL: packed, served on loopback, fetched once, and every failure clean."""

import functools
import hashlib
import http.server
import io
import tarfile
import threading

import pytest

from s2s_keras import presets
from s2s_keras.presets.__main__ import main as presets_main
from s2s_keras.presets.remote import pack
from tests.presets.test_presets import TEXTS
from tests.presets.test_presets import made  # noqa: F401  (a fixture)
from tests.presets.test_presets import test_pairs  # noqa: F401  (a fixture)


class Served:
    """A folder served over HTTP on 127.0.0.1, counting the requests."""

    def __init__(self, folder):
        served = self
        self.requests = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                served.requests.append(self.path)

        handler = functools.partial(Handler, directory=str(folder))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site(tmp_path, monkeypatch):
    """An empty cache, and a loopback web site serving `tmp_path / "site"`."""
    monkeypatch.setenv("S2S_KERAS_CACHE", str(tmp_path / "cache"))
    (tmp_path / "site").mkdir()
    served = Served(tmp_path / "site")
    yield tmp_path / "site", served
    served.close()


@pytest.fixture
def packed(made, site):  # noqa: F811  (the fixture imported above)
    _, folder, preset = made
    root, served = site
    sha256 = pack(folder, root / "tiny.tar.gz")
    return preset, sha256, root, served


def cache_entries(tmp_path):
    cache = tmp_path / "cache" / "presets"
    return sorted(path.name for path in cache.iterdir()) if cache.is_dir() else []


def test_a_packed_preset_loads_by_url_once_and_answers_as_its_folder(packed, tmp_path):
    preset, sha256, _, served = packed
    url = f"{served.url}/tiny.tar.gz"
    loaded = presets.load(url, sha256=sha256)
    assert loaded(TEXTS) == preset(TEXTS)
    assert loaded.name == "tiny_summarizer"
    assert cache_entries(tmp_path) == [sha256]  # no staging left beside it
    fetched = len(served.requests)
    again = presets.load(f"{url}#sha256={sha256}")  # pinned in the URL
    assert len(served.requests) == fetched  # from the cache: not fetched again
    assert again.directory == loaded.directory
    local = presets.load((tmp_path / "site" / "tiny.tar.gz").as_uri(), sha256=sha256)
    assert local.directory == loaded.directory  # the same archive, the same entry


def test_a_url_needs_its_sha256(packed):
    _, _, _, served = packed
    with pytest.raises(ValueError, match="pinned by the archive's sha256"):
        presets.load(f"{served.url}/tiny.tar.gz")
    with pytest.raises(ValueError, match="is not a URL"):
        presets.load("tiny_summarizer", sha256="0" * 64)


def test_a_wrong_checksum_fails_and_leaves_nothing(packed, tmp_path):
    _, sha256, _, served = packed
    wrong = hashlib.sha256(b"another archive").hexdigest()
    with pytest.raises(ValueError, match="is not the one pinned"):
        presets.load(f"{served.url}/tiny.tar.gz", sha256=wrong)
    assert cache_entries(tmp_path) == []


def test_a_missing_archive_fails_naming_the_url_and_leaves_nothing(packed, tmp_path):
    _, sha256, _, served = packed
    with pytest.raises(
        ValueError, match=r"Could not fetch the preset .*nothing.tar.gz.*404"
    ):
        presets.load(f"{served.url}/nothing.tar.gz", sha256=sha256)
    assert cache_entries(tmp_path) == []


def test_a_cut_archive_fails_and_leaves_nothing(packed, tmp_path):
    _, sha256, root, served = packed
    data = (root / "tiny.tar.gz").read_bytes()
    (root / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut short, or changed"):
        presets.load(f"{served.url}/cut.tar.gz", sha256=sha256)
    assert cache_entries(tmp_path) == []


@pytest.mark.parametrize(
    "member",
    ["../escaped.txt", "/tmp/s2s_keras_absolute.txt", "tiny/link"],
    ids=["dot-dot", "absolute", "symlink"],
)
def test_a_hostile_archive_is_refused_and_writes_nothing(site, tmp_path, member):
    root, served = site
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        config = tarfile.TarInfo("tiny/config.json")
        config.size = 2
        tar.addfile(config, io.BytesIO(b"{}"))
        info = tarfile.TarInfo(member)
        if member.endswith("link"):
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
        else:
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    (root / "hostile.tar.gz").write_bytes(buffer.getvalue())
    sha256 = hashlib.sha256(buffer.getvalue()).hexdigest()
    with pytest.raises(ValueError, match="not a plain file or folder inside"):
        presets.load(f"{served.url}/hostile.tar.gz", sha256=sha256)
    assert cache_entries(tmp_path) == []
    assert not (tmp_path / "cache" / "escaped.txt").exists()
    assert not (tmp_path / "escaped.txt").exists()


def test_pack_prints_the_line_that_loads_it(made, tmp_path, capsys):  # noqa: F811
    _, folder, _ = made
    presets_main(["pack", str(folder), str(tmp_path / "out.tar.gz")])
    printed = capsys.readouterr().out
    sha256 = hashlib.sha256((tmp_path / "out.tar.gz").read_bytes()).hexdigest()
    line = f'presets.load("{(tmp_path / "out.tar.gz").as_uri()}", sha256="{sha256}")'
    assert line in printed
