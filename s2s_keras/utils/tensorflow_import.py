"""Importing TensorFlow without the JAX and matplotlib it does not need.

TensorFlow's import loads two large packages that this package never uses
through it, whenever they are installed:

- JAX, for TFLite's converter from JAX functions
  (`tf.lite.TFLiteConverter.experimental_from_jax`): with `s2s_keras[jax]`
  installed, about 0.11 GB of memory and 325 modules more in every process,
  whatever the backend. Its import is refused for that one line; JAX itself
  is untouched and imports as usual afterwards (Keras' JAX backend,
  `--backend jax`).
- matplotlib's `pyplot`, which Keras (imported by TensorFlow) loads for its
  image-gallery plots (`keras.visualization`): 0.47 s of every cold start.
  Its import is refused for that line too, and the Keras modules that then
  found no matplotlib get a stand-in that imports it on first use, so those
  plots still draw. This package's own plots import matplotlib when they
  are made.

`import s2s_keras` imports TensorFlow first, through `import_tensorflow`.
"""

import importlib
import importlib.abc
import importlib.util
import os
import sys

DEFERRED = ("jax", "matplotlib")  # packages TensorFlow's import does not get here
# Keras' names for the matplotlib modules it imports at its own import.
KERAS_MATPLOTLIB = {"plt": "matplotlib.pyplot", "patches": "matplotlib.patches"}


class _Refused(importlib.abc.MetaPathFinder):
    """Refuses to find `names` (an ImportError for their importer) while installed."""

    def __init__(self, names):
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ImportError(f"{fullname} is not imported with TensorFlow here")
        return None


class ImportedOnUse:
    """Stands for a module, imported when one of its attributes is first read.

    Args:
        name: str, the module's full name, such as `"matplotlib.pyplot"`.
    """

    def __init__(self, name):
        self._module_name = name  # private: any public name is the module's

    def __getattr__(self, attribute):
        return getattr(importlib.import_module(self._module_name), attribute)

    def __repr__(self):
        return f"<module {self._module_name!r}, imported on first use>"


def import_tensorflow():
    """Imports TensorFlow, without JAX and matplotlib (see the module docstring).

    JAX is not refused where Keras' backend is JAX or JAX is loaded already.

    Returns:
        Whether TensorFlow was imported here: False where it was imported
        already.
    """
    if "tensorflow" in sys.modules:
        return False
    deferred = [
        name
        for name in DEFERRED
        if name not in sys.modules
        and not (name == "jax" and os.environ.get("KERAS_BACKEND") == "jax")
    ]
    refused = _Refused(deferred)
    sys.meta_path.insert(0, refused)
    try:
        import tensorflow  # noqa: F401
    finally:
        sys.meta_path.remove(refused)
    if "matplotlib" in deferred and importlib.util.find_spec("matplotlib"):
        _give_keras_its_matplotlib()
    return True


def _give_keras_its_matplotlib():
    """Puts `ImportedOnUse` stand-ins where Keras found no matplotlib."""
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("keras."):
            continue
        names = getattr(module, "__dict__", {})
        for attribute, target in KERAS_MATPLOTLIB.items():
            if attribute in names and names[attribute] is None:
                setattr(module, attribute, ImportedOnUse(target))
