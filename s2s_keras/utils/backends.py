"""The Keras backend a run trains on, and running a command again on another.

Keras reads `KERAS_BACKEND` once, when it is first imported, and
`import s2s_keras` imports Keras (it registers the layers). A recipe's
`--backend` is read with its other flags, after that: when it names another
backend than the one Keras runs on, the command starts again in the same
process's place with `KERAS_BACKEND` set (`run_again_on`), so the backend
is chosen before Keras is imported there. Setting `KERAS_BACKEND` yourself
skips that restart.

`tensorflow` is the default and the only backend of generation, scoring,
export and multi-worker training. `--backend jax` trains on JAX
(`pip install "s2s_keras[jax]"`); the run then scores and exports on
TensorFlow, once more in a fresh process, from the trained model's `.keras`
file, which is the same on both (`Runner.continue_in_fresh_process`). Which one
trains faster depends on the machine: `python bench/training_step.py
--builds after,after-jax` measures it (docs/benchmarks.md).
"""

import importlib.util
import os
import pathlib
import sys

from s2s_keras.utils.console import log

BACKENDS = ("tensorflow", "jax")


def check_backend(backend):
    """`backend`, if Keras can run on it here.

    Raises:
        ValueError: the backend is unknown, or its package is not installed.
    """
    if backend not in BACKENDS:
        raise ValueError(
            f"--backend must be one of {', '.join(BACKENDS)}. Received: "
            f"--backend {backend}"
        )
    if importlib.util.find_spec(backend) is None:
        raise ValueError(
            f"--backend {backend} needs the {backend} package: "
            f'pip install "s2s_keras[{backend}]". Received: --backend {backend}'
        )
    return backend


def started_as_script():
    """Whether this process runs a script file (`python path/to/script.py ...`).

    Its command can be run again as it was. Not so for `python -m module`
    (a test runner, say), `python -c` or an interactive session: their
    command is not the program that asked.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return (
        path is not None
        and getattr(main, "__spec__", None) is None
        and pathlib.Path(path).resolve() == pathlib.Path(sys.argv[0]).resolve()
    )


def run_again_on(backend, why, extra_args=()):
    """Runs this process's command again with `KERAS_BACKEND=backend`; never returns.

    The process is replaced (`os.execv`): what it held is freed, its output
    goes on in the same terminal and log.

    Args:
        backend: one of `BACKENDS`.
        why: what the log says before the restart.
        extra_args: arguments added at the end of the command (the last of a
            repeated flag wins).

    Raises:
        ValueError: the backend cannot run here (`check_backend`).
        RuntimeError: the process was not started as a script (a function
            called from another program cannot be run again).
    """
    check_backend(backend)
    if not started_as_script():
        raise RuntimeError(
            f"{why}: this needs Keras on {backend}, which is chosen before Keras "
            f"is imported. Set KERAS_BACKEND={backend} before importing keras, "
            "or run the recipe as a script."
        )
    log(f"{why} ...")
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ["KERAS_BACKEND"] = backend
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:], *extra_args])
