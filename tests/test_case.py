"""Shared checks that every s2s_keras layer must pass.

`run_layer_test` does for one layer what keras-hub's `run_layer_test` does:
config round trip, eager and symbolic calls agree, the output shapes and
weight counts are the expected ones, one `fit` step trains it, a
mixed-precision pass gives finite numbers, and a `.keras` save/load gives
identical outputs. Each layer's test file then only holds what is special
about that layer.
"""

import os

import keras
import numpy as np


def assert_allclose(actual, expected, atol=1e-6, rtol=1e-6):
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(actual),
        keras.ops.convert_to_numpy(expected),
        atol=atol,
        rtol=rtol,
    )


def assert_all_close(actual, expected, atol=1e-6, rtol=1e-6):
    """`assert_allclose` over two nests of tensors, lists and tuples alike."""
    actual, expected = keras.tree.flatten(actual), keras.tree.flatten(expected)
    assert len(actual) == len(expected), (len(actual), len(expected))
    for actual_item, expected_item in zip(actual, expected, strict=True):
        assert_allclose(actual_item, expected_item, atol=atol, rtol=rtol)


def symbolic_like(value):
    """A `keras.Input` like `value`, with unknown batch and time sizes.

    Integer ids and masks get unknown sizes on every axis; float features
    keep their last (feature) size, which layers need to build weights.
    """
    value = np.asarray(value)
    shape = [None] * (value.ndim - 1)
    if value.dtype.kind == "f" and value.ndim > 1:
        shape[-1] = value.shape[-1]
    return keras.Input(shape=tuple(shape), dtype=str(value.dtype))


def wrap_in_model(layer, args, kwargs):
    """A functional model around `layer(*args, **kwargs)`, arrays as inputs.

    Returns the model and the list of arrays to feed it, in input order.
    """
    inputs = []

    def to_input(value):
        if isinstance(value, (list, tuple)):
            return [to_input(item) for item in value]
        if isinstance(value, np.ndarray):
            tensor = symbolic_like(value)
            inputs.append((tensor, value))
            return tensor
        return value

    symbolic_args = [to_input(value) for value in args]
    symbolic_kwargs = {key: to_input(value) for key, value in kwargs.items()}
    outputs = layer(*symbolic_args, **symbolic_kwargs)
    model = keras.Model([tensor for tensor, _ in inputs], outputs)
    return model, [value for _, value in inputs]


def assert_specs_match(symbolic_outputs, eager_outputs):
    """The symbolic outputs have the eager ones' dtypes, ranks and known sizes.

    A layer may say its outputs' specs without tracing `call`
    (`compute_output_spec`); they must be what `call` returns.
    """
    symbolic = keras.tree.flatten(symbolic_outputs)
    eager = keras.tree.flatten(eager_outputs)
    assert len(symbolic) == len(eager), (symbolic, eager)
    for spec, output in zip(symbolic, eager, strict=True):
        dtype = keras.backend.standardize_dtype(output.dtype)
        assert spec.dtype == dtype, (spec, dtype)
        assert len(spec.shape) == len(output.shape), (spec, output.shape)
        assert all(
            size in (None, actual)
            for size, actual in zip(spec.shape, output.shape, strict=True)
        ), (spec, output.shape)


def run_layer_test(
    layer_cls,
    init_kwargs,
    call_args,
    call_kwargs=None,
    tmp_path=None,
    expected_output_shapes=None,
    expected_num_trainable_weights=None,
    run_training_check=True,
    run_mixed_precision_check=True,
):
    """Checks config round trip, symbolic == eager, shapes, weights, fit, float16.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor keyword arguments.
        call_args: positional call arguments (NumPy arrays).
        call_kwargs: keyword call arguments (NumPy arrays, lists of them, or
            plain Python values).
        tmp_path: a directory for the `.keras` file.
        expected_output_shapes: the outputs' shapes, as a nest like the
            outputs (tuples), or None not to check them.
        expected_num_trainable_weights: int, or None not to check it.
        run_training_check: whether one `fit` step must change the weights.
        run_mixed_precision_check: whether a `mixed_float16` layer must give
            finite outputs, with float32 variables.

    Returns:
        The eager outputs, for further checks by the caller.
    """
    call_kwargs = call_kwargs or {}
    layer = layer_cls(**init_kwargs)

    # Config round trip: every constructor argument is in get_config.
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert config[key] == value, (key, config[key], value)
    rebuilt = layer_cls.from_config(config)
    assert rebuilt.get_config() == config

    eager_outputs = layer(*call_args, **call_kwargs)
    if expected_output_shapes is not None:
        shapes = keras.tree.map_structure(lambda o: tuple(o.shape), eager_outputs)
        assert keras.tree.flatten(shapes) == keras.tree.flatten(
            expected_output_shapes
        ), shapes
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights

    # Symbolic call inside a functional model gives the same numbers.
    model, model_inputs = wrap_in_model(layer, call_args, call_kwargs)
    model_outputs = model.predict(model_inputs, verbose=0)
    assert_all_close(model_outputs, eager_outputs)
    assert_specs_match(model.outputs, eager_outputs)

    if run_training_check:
        check_one_fit_step(model, model_inputs)
    if run_mixed_precision_check:
        check_mixed_precision(layer_cls, init_kwargs, call_args, call_kwargs)

    # The .keras file reloads with the same weights and outputs.
    if tmp_path is not None:
        path = os.path.join(str(tmp_path), f"{layer.name}.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path, safe_mode=True)
        reloaded_outputs = reloaded.predict(model_inputs, verbose=0)
        assert_all_close(reloaded_outputs, model.predict(model_inputs, verbose=0))
        reloaded_layer = reloaded.get_layer(layer.name)
        assert type(reloaded_layer) is layer_cls
        assert len(reloaded_layer.weights) == len(layer.weights)
    return eager_outputs


def _float_outputs(outputs):
    return [
        output
        for output in keras.tree.flatten(outputs)
        if "float" in str(keras.backend.standardize_dtype(output.dtype))
    ]


def check_one_fit_step(model, model_inputs):
    """One `fit` step on the float outputs (toward zeros) changes the weights.

    A layer without weights (dot attention) only has to train without error.
    """
    trainable = keras.Model(model.inputs, _float_outputs(model.outputs))
    before = [np.array(weight) for weight in trainable.trainable_weights]
    targets = [np.zeros(output.shape) for output in _float_outputs(
        trainable.predict(model_inputs, verbose=0))]  # fmt: skip
    trainable.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    history = trainable.fit(model_inputs, targets, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    after = [np.array(weight) for weight in trainable.trainable_weights]
    assert not before or any(
        not np.allclose(old, new) for old, new in zip(before, after, strict=True)
    ), "one fit step changed no weight"


def check_mixed_precision(layer_cls, init_kwargs, call_args, call_kwargs):
    """A `mixed_float16` layer keeps float32 variables and gives finite outputs."""
    layer = layer_cls(**init_kwargs, dtype="mixed_float16")
    outputs = layer(*call_args, **call_kwargs)
    assert_specs_match(wrap_in_model(layer, call_args, call_kwargs)[0].outputs, outputs)
    for output in _float_outputs(outputs):
        assert np.isfinite(keras.ops.convert_to_numpy(output)).all()
    assert all(str(weight.dtype) == "float32" for weight in layer.trainable_weights), [
        weight.dtype for weight in layer.trainable_weights
    ]
