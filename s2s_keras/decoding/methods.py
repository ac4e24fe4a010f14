"""The decoding methods by name: `get_chooser("beam", beam_width=4)`.

The names are what the recipes' `--method` flag offers and what `Generator`,
`generate` and the export settings take.
"""

import inspect

from s2s_keras.decoding.beam import BeamSearch
from s2s_keras.decoding.choosers import Greedy
from s2s_keras.decoding.choosers import Sampling
from s2s_keras.utils.checks import check_choice

CHOOSERS = {"greedy": Greedy, "beam": BeamSearch, "sample": Sampling}
METHODS = tuple(CHOOSERS)


def get_chooser(method, **options):
    """A `TokenChooser` by name, with the options that name takes.

    Args:
        method: one of `METHODS`: `"greedy"`, `"sample"` or `"beam"`.
        **options: the choosers' arguments (`temperature`, `top_k`,
            `top_p`, `seed` for sampling; `beam_width`, `length_penalty`,
            `num_results` for beam search). One set of settings serves
            every method: each chooser takes its own, and every value is
            checked, whichever method uses it.

    Raises:
        ValueError: an unknown method or option, or a bad option value.
    """
    check_choice("method", method, METHODS)
    known = {name for cls in CHOOSERS.values() for name in _arguments(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"Unknown decoding options {unknown}. Expected some of {sorted(known)}."
        )
    made = {
        name: cls(**{key: options[key] for key in _arguments(cls) if key in options})
        for name, cls in CHOOSERS.items()
    }
    return made[method]


def _arguments(cls):
    return list(inspect.signature(cls).parameters)
