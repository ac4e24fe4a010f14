"""Checkpoint averaging: one model whose weights are the mean of several.

OpenNMT's `average_models` and fairseq's `average_checkpoints`: the weights
of the last few checkpoints of one run, averaged, often score better than
any one of them (they sit in the same basin; the mean is nearer its
middle). The models must be built the same way (the same config).

    python -m s2s_keras.average averaged.keras epoch8.keras epoch9.keras epoch10.keras

From Python, `average_models([model_a, model_b])` returns a new model.
"""

import argparse
import json
import pathlib
import sys

import keras
import numpy as np

from s2s_keras.utils.atomic_files import atomic_path


def average_models(models):
    """A new model with the mean of `models`' weights.

    Args:
        models: two or more Keras models (or `.keras` paths) built from
            the same config.

    Returns:
        A model built from the first one's config, holding the mean of
        every weight (float weights; integer ones, such as counters, must
        be equal and are kept).

    Raises:
        ValueError: fewer than two models, or configs that differ (the
            message names the first that differs).
    """
    models = [_loaded(model) for model in models]
    if len(models) < 2:
        raise ValueError(
            f"Expected at least two models to average. Received: {len(models)}"
        )
    config = _config(models[0])
    for index, model in enumerate(models[1:], start=1):
        if _config(model) != config:
            raise ValueError(
                f"Models to average must be built the same way; model {index} "
                f"({model.name!r}) has another config than model 0 ({models[0].name!r})"
            )
    averaged = keras.models.clone_model(models[0])
    averaged.set_weights(mean_weights([model.get_weights() for model in models]))
    return averaged


def mean_weights(weight_lists):
    """The mean of several `get_weights()` lists of one model's weights.

    Args:
        weight_lists: lists of NumPy arrays, each in the order of the
            model's `get_weights()`.

    Returns:
        A list of arrays: the mean of each float weight (summed in float64,
        cast back), and each integer weight (a counter) as it is, where it
        is equal in all.

    Raises:
        ValueError: an integer weight differs between the lists.
    """
    mean = []
    for values in zip(*weight_lists, strict=True):
        if np.issubdtype(values[0].dtype, np.floating):
            total = np.sum([v.astype("float64") for v in values], axis=0)
            mean.append((total / len(values)).astype(values[0].dtype))
        elif all(np.array_equal(values[0], value) for value in values[1:]):
            mean.append(values[0])
        else:
            raise ValueError(
                f"An integer weight of shape {values[0].shape} differs between "
                "the models: it cannot be averaged"
            )
    return mean


def _loaded(model):
    if isinstance(model, keras.Model):
        return model
    path = pathlib.Path(model)
    if not path.is_file():
        raise ValueError(f"No model file at {str(path)!r}")
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def _config(model):
    config = dict(model.get_config())
    config.pop("name", None)  # checkpoints of one run may be named apart
    return json.dumps(config, sort_keys=True, default=str)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m s2s_keras.average",
        description="Writes a model whose weights are the mean of several "
        "models' (checkpoints of one run, built the same way).",
    )
    parser.add_argument("output", help="the averaged model's .keras file")
    parser.add_argument("inputs", nargs="+", help="two or more .keras files")
    args = parser.parse_args(argv)
    if not args.output.endswith(".keras"):
        parser.error(f"the output must be a .keras file; got {args.output!r}")
    try:
        averaged = average_models(args.inputs)
    except ValueError as error:
        parser.error(str(error))
    with atomic_path(args.output) as staging:
        averaged.save(staging)
    print(f"Wrote {args.output}: the mean of {len(args.inputs)} models' weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
