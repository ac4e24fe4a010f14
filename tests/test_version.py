"""The package's version: one number, from pyproject.toml, everywhere."""

import pathlib
import subprocess
import sys
import tomllib

import s2s_keras

ROOT = pathlib.Path(__file__).parents[1]


def pyproject_version():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_version_is_the_pyprojects():
    assert s2s_keras.__version__ == pyproject_version()
    printed = subprocess.run(
        [sys.executable, "-c", "import s2s_keras; print(s2s_keras.__version__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    assert printed[-1] == pyproject_version()


def test_the_changelog_has_a_section_for_the_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog or f"## [{pyproject_version()}]" in changelog
    assert f"## [{pyproject_version()}]" in changelog
