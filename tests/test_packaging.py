"""What a wheel holds, and what a stranger's install of it can do."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request

import pytest

from s2s_keras.presets.preset import CHECKOUT
from tests.serve.conftest import free_port

ROOT = pathlib.Path(__file__).parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
SHIPPED_NAMES = sorted(
    path.name for path in CHECKOUT.iterdir() if (path / "config.json").is_file()
)


def test_every_package_and_every_shipped_preset_is_in_the_wheel():
    folders = sorted(
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "s2s_keras").rglob("__init__.py")
    )
    assert sorted(SETUPTOOLS["packages"]) == sorted(
        [*folders, "s2s_keras.presets.shipped"]
    )
    assert SETUPTOOLS["package-dir"] == {"s2s_keras.presets.shipped": "saved_models"}
    globs = SETUPTOOLS["package-data"]["s2s_keras.presets.shipped"]
    assert sorted(globs) == sorted(
        pattern
        for name in SHIPPED_NAMES
        for pattern in (f"{name}/*", f"{name}/tokenizer/*")
    )
    # The frozen test splits are package data; no other data file sits in s2s_keras/.
    assert SETUPTOOLS["package-data"]["s2s_keras.data"] == ["frozen_tests/*"]
    data_files = {
        path.relative_to(ROOT / "s2s_keras").as_posix()
        for path in (ROOT / "s2s_keras").rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"}
    }
    assert data_files == {"serve/page.html"} | {
        f"data/frozen_tests/{path.name}"
        for path in (ROOT / "s2s_keras/data/frozen_tests").iterdir()
    }


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (command, result.stderr[-3000:])
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv outside the repository with the wheel installed, no network.

    The venv sees this environment's packages (TensorFlow, ...) through a
    `.pth` line, which adds their folder but runs none of its `.pth` files:
    this checkout's editable install is not among what it imports.
    """
    folder = tmp_path_factory.mktemp("stranger")
    # Built from a copy, so that no build/ folder of the checkout's adds stale files.
    source = folder / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".venv"
        ),
    )
    # The sdist first, and the wheel from it (what `pip install s2s_keras-*.tar.gz`
    # does), so that both must hold the presets and the frozen test splits.
    build_sdist = f"from setuptools import build_meta; build_meta.build_sdist({str(folder / 'sdist')!r})"
    run([sys.executable, "-c", build_sdist], cwd=source)
    (sdist,) = (folder / "sdist").glob("s2s_keras-*.tar.gz")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps",
         "-q", "-w", str(folder / "wheel"), str(sdist)], cwd=folder)  # fmt: skip
    (wheel,) = (folder / "wheel").glob("s2s_keras-*.whl")
    run([sys.executable, "-m", "venv", str(folder / "venv")])
    python = folder / "venv" / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])  # fmt: skip
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    pathlib.Path(site.strip(), "dependencies.pth").write_text(
        "\n".join(sorted(dependencies)) + "\n"
    )
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)])  # fmt: skip
    return python, folder, wheel


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_venv_lists_loads_and_serves_the_presets(
    installed,
):
    python, folder, wheel = installed
    assert wheel.stat().st_size < 40e6  # the presets are about 7 MB each
    script = """
import json
import s2s_keras
from s2s_keras import presets
answers = {name: presets.load(name)("A fast text editor for the terminal.")
           for name in presets.list()}
from s2s_keras.data import load_corpus
frozen = {name: len(list(load_corpus(name, "test", version="2026-12-03")))
          for name in ("debian_descriptions", "bible_kjv_web")}
print(json.dumps({"file": s2s_keras.__file__, "version": s2s_keras.__version__,
                  "names": presets.list(), "answers": answers, "frozen": frozen}))
"""
    environment = {k: v for k, v in os.environ.items() if k != "S2S_KERAS_PRESETS"}
    printed = run([str(python), "-c", script], cwd=folder, env=environment, timeout=600)
    found = json.loads(printed.strip().splitlines()[-1])
    assert found["file"].startswith(str(folder / "venv"))  # the wheel's, not ours
    assert found["names"] == SHIPPED_NAMES
    assert all(answer.strip() for answer in found["answers"].values())
    assert found["frozen"] == {"debian_descriptions": 1000, "bible_kjv_web": 1000}
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert found["version"] == version

    port = free_port()
    server = subprocess.Popen(
        [str(python), "-m", "s2s_keras.serve", "summarize_debian", "--port", str(port)],
        cwd=folder,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        body = json.dumps({"instances": ["A fast text editor for the terminal."]})
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, server.stderr.read()[-3000:]
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/v1/models/summarize_debian:predict",
                    data=body.encode(),
                    headers={"content-type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=60) as response:
                    answer = json.loads(response.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(1)
        assert answer["predictions"][0]["text"].strip()
    finally:
        server.terminate()
        server.wait(60)
