"""Learning-rate schedules with a warm-up (`--lr-schedule`, `--warmup-steps`)."""

import math

import keras
import numpy as np
import pytest

from s2s_keras.schedules import WarmupSchedule
from s2s_keras.schedules import learning_rate_schedule
from s2s_keras.training import flags
from s2s_keras.training import tasks
from s2s_keras.training.config import TrainingConfig


def rates(schedule, steps):
    return [float(schedule(step)) for step in steps]


def test_the_warm_up_rises_linearly_then_each_schedule_decays_as_written():
    peak, warmup, total = 1e-2, 4, 12
    # Update s (from 1) at optimizer step s - 1.
    rising = [peak * s / warmup for s in (1, 2, 3, 4)]
    constant = WarmupSchedule(peak, warmup)
    assert rates(constant, range(6)) == pytest.approx(rising + [peak, peak])
    inverse = WarmupSchedule(peak, warmup, "inverse_sqrt")
    expected = rising + [peak * math.sqrt(warmup / s) for s in (5, 9, 16)]
    assert rates(inverse, [0, 1, 2, 3, 4, 8, 15]) == pytest.approx(expected)
    cosine = WarmupSchedule(peak, warmup, "cosine", total)
    middle = peak * (1 + math.cos(math.pi * 4 / 8)) / 2
    assert rates(cosine, [3, 7, 11, 20]) == pytest.approx([peak, middle, 0.0, 0.0])


def test_no_schedule_is_the_plain_rate_and_a_schedule_round_trips():
    assert learning_rate_schedule("constant", 2e-3) == 2e-3
    schedule = learning_rate_schedule("inverse_sqrt", 2e-3, 100)
    again = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(schedule)
    )
    assert rates(again, [0, 99, 399]) == pytest.approx(rates(schedule, [0, 99, 399]))


@pytest.mark.tensorflow  # JAX's fit keeps the step count inside its compiled step
def test_adam_follows_the_schedule_in_fit():
    schedule = WarmupSchedule(1e-2, 3, "inverse_sqrt")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(schedule), "mse")
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: seen.append(
            float(model.optimizer.learning_rate)
        )
    )
    x = np.ones((5, 2), "float32")
    model.fit(x, x[:, :1], batch_size=1, epochs=1, callbacks=[record], verbose=0)
    assert seen == pytest.approx(rates(schedule, range(5)))
    assert float(model.optimizer.learning_rate) == pytest.approx(float(schedule(5)))


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"lr_schedule": "cosine"}, "give max_steps"),
        ({"warmup_steps": 10, "lr_decay": 0.5}, "lr_decay lowers a constant"),
        ({"lr_schedule": "linear"}, "lr_schedule"),
        ({"warmup_steps": -1}, "warmup_steps"),
    ],
)
def test_settings_that_do_not_go_together_are_refused(settings, match):
    with pytest.raises(ValueError, match=match):
        TrainingConfig(**settings)


def test_the_recipe_flags_refuse_them_with_a_message(capsys):
    parser = flags.recipe_parser("A recipe.", tasks.get("summarize"))
    with pytest.raises(SystemExit):
        flags.parse(parser, ["--lr-schedule", "cosine"])
    assert "give max_steps" in capsys.readouterr().err
    args = flags.parse(parser, ["--lr-schedule", "cosine", "--max-steps", "50"])
    schedule = flags.run_config(args).training.optimizer_learning_rate
    assert isinstance(schedule, WarmupSchedule) and schedule.total_steps == 50
