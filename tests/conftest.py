import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import atexit  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# The words of `pairs_file`'s texts.
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def _test_cache():
    """A cache for the tests' prepared files, sharing the built-in corpora.

    The files the tests write are prepared into a folder of their own, not
    the user's cache; the built-in corpora (slow to fetch) are linked in.
    """
    user = pathlib.Path(
        os.environ.get("S2S_KERAS_DATA") or pathlib.Path.home() / ".cache" / "s2s_keras"
    )
    cache = pathlib.Path(tempfile.mkdtemp(prefix="s2s_keras_test_cache."))
    for part in ("corpora", "apt", "wordnet"):
        (user / part).mkdir(parents=True, exist_ok=True)
        (cache / part).symlink_to(user / part)
    atexit.register(shutil.rmtree, cache, ignore_errors=True)  # links, not targets
    return cache


os.environ["S2S_KERAS_DATA"] = str(_test_cache())  # subprocesses inherit it


def pytest_collection_modifyitems(config, items):
    """On a backend other than TensorFlow, skips the tests marked `tensorflow`.

    The layer and model tests run on JAX too (tests/test_backends.py runs
    them there with KERAS_BACKEND=jax); generation and export are TensorFlow's.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"needs TensorFlow; the backend is {backend}")
    for item in items:
        if "tensorflow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same random state, in float32."""
    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session")
def pairs_file(tmp_path_factory):
    """600 pairs: the target is the first three words of the source."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    with open(path, "w") as file:
        for _ in range(600):
            source = " ".join(rng.choice(WORDS, size=rng.integers(4, 12)))
            row = {
                "text": source,
                "summary": " ".join(source.split()[:3]),
                "context": " ".join(source.split()[:2]),  # ~100 passages
            }
            file.write(json.dumps(row) + "\n")
    return path


@pytest.fixture(scope="session")
def beam_export(tmp_path_factory):
    """An export that decodes with beam search (so `generate` has an n-best):
    what tests/serve/ serves and tests/predict/ runs over files."""
    from tests.export.test_export import sharp_export

    directory, _, _ = sharp_export(
        tmp_path_factory, "beam_export", method="beam", beam_width=3
    )
    return directory
