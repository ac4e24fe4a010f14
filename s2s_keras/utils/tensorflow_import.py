"""Importing TensorFlow without the JAX it does not need.

TensorFlow's TFLite module imports JAX when it is installed, for a converter
from JAX functions (`tf.lite.TFLiteConverter.experimental_from_jax`) that
this package never uses: with `s2s_keras[jax]` installed, every process that
imports TensorFlow also loads JAX and jaxlib, about 0.11 GB of memory and
325 modules more, for nothing, whatever the backend. `import s2s_keras`
imports TensorFlow first, through `import_tensorflow`, with the JAX import
of that one line refused; JAX itself is untouched and imports as usual
afterwards (Keras' JAX backend, `--backend jax`).
"""

import importlib.abc
import os
import sys


class _Refused(importlib.abc.MetaPathFinder):
    """Refuses to find `name` (an ImportError for its importer) while installed."""

    def __init__(self, name):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name or fullname.startswith(self.name + "."):
            raise ImportError(f"{fullname} is not imported with TensorFlow here")
        return None


def import_tensorflow():
    """Imports TensorFlow, without JAX unless JAX is Keras' backend or loaded.

    Returns:
        Whether TensorFlow was imported here without JAX: False where it was
        imported already, or JAX is (or will be) loaded anyway.
    """
    if "tensorflow" in sys.modules or "jax" in sys.modules:
        return False
    if os.environ.get("KERAS_BACKEND") == "jax":
        return False
    refused = _Refused("jax")
    sys.meta_path.insert(0, refused)
    try:
        import tensorflow  # noqa: F401
    finally:
        sys.meta_path.remove(refused)
    return True
