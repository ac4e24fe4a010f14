"""Argument checks shared by the library.

Each check raises a `ValueError` that names the argument, says what was
expected and shows the value received, the way keras core layers do.
"""

import numbers


def check_positive_int(name, value):
    """Raise unless `value` is a positive integer (bools are refused)."""
    return _check_int(name, value, 1, "a positive integer")


def check_non_negative_int(name, value):
    """Raise unless `value` is an integer >= 0 (bools are refused)."""
    return _check_int(name, value, 0, "an integer >= 0")


def _check_int(name, value, minimum, expected):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        raise ValueError(
            f"Invalid value for argument {name}. Expected {expected}. "
            f"Received: {name}={value!r}"
        )
    return int(value)


def check_rate(name, value):
    """Raise unless `value` is a number in [0, 1)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= value < 1.0
    ):
        raise ValueError(
            f"Invalid value for argument {name}. Expected a float in "
            f"[0, 1). Received: {name}={value!r}"
        )
    return float(value)


def check_choice(name, value, choices):
    """Raise unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"Invalid value for argument {name}. Expected one of "
            f"{list(choices)}. Received: {name}={value!r}"
        )
    return value


def check_bool(name, value):
    """Raise unless `value` is a Python bool."""
    if not isinstance(value, bool):
        raise ValueError(
            f"Invalid value for argument {name}. Expected True or False. "
            f"Received: {name}={value!r}"
        )
    return value


def check_non_negative_float(name, value):
    """Raise unless `value` is a finite number >= 0 (bools are refused)."""
    return _check_finite(
        name, value, lambda number: number >= 0.0, "a finite number >= 0"
    )


def check_positive_float(name, value):
    """Raise unless `value` is a finite number > 0 (bools are refused)."""
    return _check_finite(name, value, lambda number: number > 0.0, "a positive number")


def _check_finite(name, value, accepts, expected):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (value < float("inf") and accepts(value))
    ):
        raise ValueError(
            f"Invalid value for argument {name}. Expected {expected}. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def check_sampling_alpha(name, value):
    """Raise unless `value` is 0 (off) or a subword-sampling alpha in (0, 1]."""
    return _check_finite(
        name,
        value,
        lambda number: 0.0 <= number <= 1.0,
        "0 (off) or an alpha in (0, 1]",
    )


def check_language_temperature(name, value):
    """Raise unless `value` is a finite number >= 1 (a language temperature)."""
    return _check_finite(
        name,
        value,
        lambda number: number >= 1.0,
        "a number >= 1 (1: the corpus's own mix of languages; larger: more even)",
    )
