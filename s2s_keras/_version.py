"""`__version__`: the installed package's version, from its metadata.

A checkout used without installing it (on `PYTHONPATH`) reads the version
from its `pyproject.toml` instead.
"""

import pathlib
import tomllib
from importlib import metadata


def _version():
    try:
        return metadata.version("s2s_keras")
    except metadata.PackageNotFoundError:
        pyproject = pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml"
        if pyproject.is_file():
            return tomllib.loads(pyproject.read_text())["project"]["version"]
        return "0+unknown"


__version__ = _version()
