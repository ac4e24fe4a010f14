"""Learning-rate schedules with a warm-up: `--lr-schedule` and `--warmup-steps`.

Adam's first steps, taken on moments estimated from a handful of batches,
are the least reliable; a warm-up raises the rate linearly from 0 over
`warmup_steps`, then

| schedule       | after the warm-up (step s, W warm-up steps, N steps in all) |
|----------------|-------------------------------------------------------------|
| `constant`     | the peak rate                                               |
| `inverse_sqrt` | peak * sqrt(W / s) (the Transformer's schedule, Vaswani et al.) |
| `cosine`       | peak * (1 + cos(pi * (s - W) / (N - W))) / 2, down to 0 at N |

`learning_rate_schedule(name, peak, warmup_steps, total_steps)` makes one;
the constant schedule without a warm-up is the plain rate (a float), which
`--lr-decay`'s `ReduceLROnPlateau` can lower.
"""

import math

import keras
from keras import ops

from s2s_keras.utils.checks import check_choice
from s2s_keras.utils.checks import check_non_negative_int
from s2s_keras.utils.checks import check_positive_int

SCHEDULES = ("constant", "inverse_sqrt", "cosine")


@keras.saving.register_keras_serializable(package="s2s_keras")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warm-up to `peak`, then `schedule`'s decay (see the module).

    Args:
        peak: float > 0, the rate at the end of the warm-up.
        warmup_steps: int >= 0, steps of the warm-up.
        schedule: one of `SCHEDULES`.
        total_steps: int, the steps of the whole run (`cosine` only: the
            rate reaches 0 there).

    Call arguments:
        step: the optimizer's step count (0 for the first update).

    Returns:
        The float32 learning rate of that step.
    """

    def __init__(self, peak, warmup_steps=0, schedule="constant", total_steps=None):
        if not peak > 0 or not math.isfinite(peak):
            raise ValueError(
                f"Invalid value for argument peak. Expected a positive float. "
                f"Received: peak={peak!r}"
            )
        check_non_negative_int("warmup_steps", warmup_steps)
        check_choice("schedule", schedule, SCHEDULES)
        if schedule == "cosine":
            check_positive_int("total_steps", total_steps)
            if total_steps <= warmup_steps:
                raise ValueError(
                    "The cosine schedule needs more steps than its warm-up. "
                    f"Received: total_steps={total_steps}, warmup_steps={warmup_steps}"
                )
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.schedule = schedule
        self.total_steps = total_steps

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0  # the update being made, from 1
        warmup = float(max(self.warmup_steps, 1))
        if self.schedule == "constant":
            after = ops.ones_like(step)
        elif self.schedule == "inverse_sqrt":
            after = ops.sqrt(warmup / ops.maximum(step, warmup))
        else:
            span = float(self.total_steps - self.warmup_steps)
            done = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
            after = 0.5 * (1.0 + ops.cos(math.pi * done))
        rising = ops.minimum(step / warmup, 1.0) if self.warmup_steps else 1.0
        return self.peak * rising * after

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "schedule": self.schedule,
            "total_steps": self.total_steps,
        }


def learning_rate_schedule(name, peak, warmup_steps=0, total_steps=None):
    """The learning rate Adam is given: `peak` itself, or a `WarmupSchedule`.

    Args:
        name: one of `SCHEDULES`.
        peak: float, the rate after the warm-up.
        warmup_steps: int >= 0.
        total_steps: the run's steps (`--max-steps`): needed by `cosine`.

    Returns:
        A float for a constant rate without warm-up, else a `WarmupSchedule`.
    """
    if name == "constant" and not warmup_steps:
        return peak
    return WarmupSchedule(peak, warmup_steps, name, total_steps)
