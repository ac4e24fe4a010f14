"""The private Keras names s2s_keras relies on, checked where each is used.

Two pieces of s2s_keras reach into Keras's private API: the multi-worker
fixes (`multi_worker_fit.py`) and the cluster backup callback
(`distribute.ClusterBackupAndRestore`). A private name can be renamed in any
Keras release, and a patch that no longer finds its target would fail
obscurely or, worse, silently stop applying. `pyproject.toml` pins Keras to
the minor version these were tested with (`TESTED_KERAS`), and each piece
calls `require` when it is installed or made, so that another Keras fails at
once with a message that names both versions.
"""

import keras

TESTED_KERAS = "3.15"


def require(owner, names, needed_by):
    """Checks that `owner` has every attribute in `names`.

    Args:
        owner: a module, class or object of Keras.
        names: the private names `needed_by` reads, calls or overrides.
        needed_by: what needs them, for the message.

    Returns:
        `owner`.

    Raises:
        RuntimeError: a name is missing; the message names the installed
            Keras version, the tested one, and what to install.
    """
    missing = [name for name in names if not hasattr(owner, name)]
    if missing:
        owner_name = getattr(owner, "__name__", type(owner).__name__)
        raise RuntimeError(
            f"{needed_by} relies on private Keras names that Keras "
            f"{keras.__version__} does not have: "
            + ", ".join(f"{owner_name}.{name}" for name in missing)
            + f". s2s_keras is tested with Keras {TESTED_KERAS}.x: install it "
            f"with pip install 'keras=={TESTED_KERAS}.*'."
        )
    return owner
