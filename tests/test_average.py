"""Checkpoint averaging: `average_models` and `python -m s2s_keras.average`."""

import keras
import numpy as np
import pytest

from s2s_keras import build_seq2seq
from s2s_keras.average import average_models
from s2s_keras.average import main


def model_with_seed(seed, units=16):
    keras.utils.set_random_seed(seed)
    return build_seq2seq(20, 20, 8, units, copy=True, coverage=True)


def test_the_average_holds_the_mean_of_every_weight():
    models = [model_with_seed(seed) for seed in (1, 2, 3)]
    averaged = average_models(models)
    assert averaged is not models[0]
    for index, weight in enumerate(averaged.get_weights()):
        expected = np.mean([model.get_weights()[index] for model in models], axis=0)
        np.testing.assert_allclose(weight, expected, rtol=1e-6, atol=1e-7)
    # The first model is left as it was.
    np.testing.assert_array_equal(
        models[0].get_weights()[0], model_with_seed(1).get_weights()[0]
    )


def test_models_built_otherwise_are_refused():
    with pytest.raises(ValueError, match="model 1 .* another config"):
        average_models([model_with_seed(1), model_with_seed(2, units=8)])
    with pytest.raises(ValueError, match="at least two models to average. Received: 1"):
        average_models([model_with_seed(1)])


def test_the_command_writes_a_model_that_loads_and_computes(tmp_path, capsys):
    paths = []
    for seed in (1, 2):
        paths.append(str(tmp_path / f"epoch{seed}.keras"))
        model_with_seed(seed).save(paths[-1])
    output = tmp_path / "averaged.keras"
    assert main([str(output), *paths]) == 0
    assert "the mean of 2 models' weights" in capsys.readouterr().out
    loaded = keras.saving.load_model(output, safe_mode=True)
    expected = average_models(paths)
    inputs = {
        "source_ids": np.array([[5, 6, 7, 0]], "int32"),
        "target_ids": np.array([[1, 5, 6]], "int32"),
    }
    np.testing.assert_allclose(loaded(inputs), expected(inputs), atol=1e-6)
    with pytest.raises(SystemExit):
        main([str(tmp_path / "out.h5"), *paths])
    with pytest.raises(SystemExit):
        main([str(output), paths[0], str(tmp_path / "missing.keras")])
