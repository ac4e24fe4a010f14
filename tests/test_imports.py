"""What `import s2s_keras` loads: TensorFlow, without the JAX it does not use."""

import importlib.util
import os
import subprocess
import sys

import pytest

REPORT = """
import sys
{first}
print("jax" in sys.modules, "tensorflow" in sys.modules)
import jax
print(jax.numpy.ones(2).sum())
"""

needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="JAX is not installed"
)


def imported(first, backend="tensorflow"):
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", REPORT.format(first=first)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


@needs_jax
def test_tensorflow_comes_without_jax_which_imports_later_as_usual():
    # TensorFlow alone imports JAX (its TFLite module's JAX converter).
    assert imported("import tensorflow")[:2] == ["True", "True"]
    assert imported("import s2s_keras") == ["False", "True", "2.0"]
    assert imported("from s2s_keras import presets") == ["False", "True", "2.0"]


@needs_jax
def test_on_the_jax_backend_jax_is_loaded_as_keras_asks():
    assert imported("import s2s_keras", backend="jax")[0] == "True"


PLOTS = """
import sys
import s2s_keras
print("matplotlib" in sys.modules)
import keras
import numpy as np
keras.visualization.plot_image_gallery(np.ones((2, 4, 4, 3)), path={path!r})
from keras.src.visualization import plot_bounding_box_gallery  # its legend patches
print(plot_bounding_box_gallery.patches.Patch.__name__)
print("matplotlib" in sys.modules)
"""


def test_matplotlib_waits_until_keras_plots(tmp_path):
    # Keras imports matplotlib.pyplot at its import, for its image plots:
    # with s2s_keras, only when one is drawn.
    path = str(tmp_path / "gallery.png")
    result = subprocess.run(
        [sys.executable, "-c", PLOTS.format(path=path)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False", "Patch", "True"]
    assert os.path.getsize(path) > 0
