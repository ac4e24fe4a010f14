"""Trained models in one line: `presets.load("summarize_debian")`.

    from s2s_keras import presets
    presets.list()                      # ['paraphrase_kjv_web', 'summarize_debian', ...]
    model = presets.load("summarize_debian")
    model(["A fast, light text editor for the terminal ..."])

A bare name (`"summarize_debian"`) is always a preset's name; a path
(`"./folder"`, a `pathlib.Path`) is always a folder: a folder of the
working directory that shares a preset's name is never taken by its name.

`python -m s2s_keras.presets export NAME DIR` writes a preset's export
(SavedModel, TFLite, `.keras`) for programs that only load the SavedModel.
Modules: `preset.py` (the folder, `Preset`, `load`), `weights.py` (float16 /
int8 storage), `make.py` (a preset from a recipe's export, with its card).
"""

from s2s_keras.presets.make import make_preset
from s2s_keras.presets.preset import Preset
from s2s_keras.presets.preset import available
from s2s_keras.presets.preset import find
from s2s_keras.presets.preset import is_name
from s2s_keras.presets.preset import is_preset
from s2s_keras.presets.preset import load
from s2s_keras.presets.preset import presets_folder
from s2s_keras.presets.remote import pack


def list():  # noqa: A001  (the zoo's own word: presets.list())
    """The names of the presets that `load` finds by name, sorted."""
    return available()


__all__ = [
    "Preset",
    "available",
    "find",
    "is_name",
    "is_preset",
    "list",
    "load",
    "make_preset",
    "pack",
    "presets_folder",
]
