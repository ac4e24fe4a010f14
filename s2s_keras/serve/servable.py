"""An export folder loaded for serving: its SavedModel's signatures and settings.

Only what an export holds is read: `saved_model/` (loaded with
`tf.saved_model.load`; its graph holds the tokenizer) and `export.json` (the
decoding settings, the defaults of the `generate` signature's inputs).
Nothing a request sends is loaded, executed or written.
"""

import inspect
import json
import pathlib
import re

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the SentencePiece ops the graph uses)
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

from s2s_keras.serve.tensors import DTYPES
from s2s_keras.serve.tensors import RequestError
from s2s_keras.serve.tensors import TensorSpec

VERSION = "1"  # the one version served, as TF Serving numbers them


class Signature:
    """One signature of the SavedModel: its function, inputs, outputs, defaults.

    Args:
        name: the signature's key (`"serving_default"`, `"generate"`, ...).
        function: the loaded concrete function.
        settings: the export's `generator` settings (`export.json`): an input
            named after one of them defaults to its value.
        max_target_length: the export's cap on `max_length` (`export.json`),
            or None.

    Attributes:
        inputs, outputs: `{name: TensorSpec}`.
        defaults: `{name: value}` for the inputs a request may leave out.
        batchable: whether requests may run as one batch: every input is
            batched along its first dimension only (or a scalar) and every
            output's other dimensions are fixed, so one request's rows come
            out as they would alone.
        max_length: the export's output length (`settings["max_length"]`),
            or None.
    """

    def __init__(self, name, function, settings=None, max_target_length=None):
        self.name = name
        self.function = function
        self.inputs = {
            key: _spec(spec)
            for key, spec in function.structured_input_signature[1].items()
        }
        self.outputs = {
            key: _spec(spec) for key, spec in function.structured_outputs.items()
        }
        settings = settings or {}
        self.defaults = {key: settings[key] for key in self.inputs if key in settings}
        self.max_length = settings.get("max_length")
        self.max_target_length = max_target_length
        self.batchable = all(
            len(spec.shape) <= 1 for spec in self.inputs.values()
        ) and all(
            spec.batched and None not in spec.shape[1:]
            for spec in self.outputs.values()
        )

    def length_asked(self, inputs):
        """The output tokens a row may take: the request's `max_length` input
        (within the export's cap: the signature refuses more), or the
        export's `max_length` (1 where the export has none)."""
        if "max_length" in self.inputs and "max_length" in inputs:
            length = max(1, int(inputs["max_length"]))
            return min(length, self.max_target_length or length)
        return self.max_length or 1

    def __call__(self, inputs):
        """Runs the signature on `{name: np.ndarray}`; returns `{name: np.ndarray}`."""
        tensors = {
            key: tf.constant(inputs[key], dtype=tf.as_dtype(spec.dtype))
            for key, spec in self.inputs.items()
        }
        try:
            outputs = self.function(**tensors)
        except tf.errors.InvalidArgumentError as error:
            raise RequestError(
                f"signature {self.name!r}: {_reason(error.message)}"
            ) from None
        return {key: value.numpy() for key, value in outputs.items()}


def _reason(message):
    """The reason in a graph's error message, without TensorFlow's node lines.

    An `Assert` reads `assertion failed: [what must hold. Received: x =] [5]`:
    its parts are joined into one sentence.
    """
    failed = re.search(r"assertion failed: (.*)", message)
    if failed:
        return " ".join(re.findall(r"\[([^\[\]]*)\]", failed.group(1)))
    lines = [
        line.strip()
        for line in message.splitlines()
        if line.strip()
        and not line.strip().startswith(("[[", "Graph execution error", "Detected at"))
        and "stack traces" not in line
    ]
    return " ".join(lines) or message


def _spec(spec):
    dtype = spec.dtype.name
    if dtype not in DTYPES:
        raise ValueError(
            f"unsupported dtype {dtype!r} in a signature: serve takes {DTYPES}"
        )
    return TensorSpec(dtype, tuple(spec.shape.as_list()))


class Servable:
    """An export folder's SavedModel, ready to serve.

    Args:
        directory: an export folder (a recipe's `--output`, `write_export`'s
            folder): `saved_model/` and `export.json`.

    Attributes:
        signatures: `{name: Signature}`.
        settings: `export.json` (`{}` if the folder has none).
        signature_def_protos: the SavedModel's `SignatureDef` protos, by name
            (what gRPC's metadata answers).
        signature_defs: the same as TF Serving's REST metadata answers them
            (`{"signature_def": {name: ...}}`).

    Raises:
        ValueError: if `directory` holds no SavedModel.
    """

    def __init__(self, directory):
        directory = pathlib.Path(directory)
        saved_model = directory / "saved_model"
        if not (saved_model / "saved_model.pb").is_file():
            raise ValueError(
                f"No SavedModel in {directory}: {saved_model}/saved_model.pb not "
                "found. Pass an export folder (the --output of a recipe)."
            )
        settings_file = directory / "export.json"
        self.settings = (
            json.loads(settings_file.read_text()) if settings_file.is_file() else {}
        )
        self.directory = directory
        self.loaded = tf.saved_model.load(str(saved_model))
        generator = self.settings.get("generator", {})
        self.signatures = {
            name: Signature(
                name, function, generator, self.settings.get("max_target_length")
            )
            for name, function in self.loaded.signatures.items()
        }
        self.signature_def_protos = _signature_def_protos(
            saved_model / "saved_model.pb"
        )
        self.signature_defs = _as_json(self.signature_def_protos)

    def signature(self, name):
        """The `Signature` called `name`; a `RequestError` names the others."""
        if name not in self.signatures:
            raise RequestError(
                f"Serving signature name: {name!r} not found in signature def; "
                f"the model has {sorted(self.signatures)}"
            )
        return self.signatures[name]

    def warm_up(self):
        """Runs `serving_default` once on an empty text, if it takes text.

        The first call of a loaded function pays for setting it up; this
        keeps that out of the first request.
        """
        signature = self.signatures.get("serving_default")
        if signature and all(
            spec == TensorSpec("string", (None,)) for spec in signature.inputs.values()
        ):
            signature({key: np.array([b""], dtype=object) for key in signature.inputs})


# TF Serving's JSON: proto field names, fields at their defaults included
# (protobuf < 5.26 names that option including_default_value_fields).
_AS_TF_SERVING = {
    "preserving_proto_field_name": True,
    (
        "always_print_fields_with_no_presence"
        if "always_print_fields_with_no_presence"
        in inspect.signature(json_format.MessageToDict).parameters
        else "including_default_value_fields"
    ): True,
}


def _signature_def_protos(path):
    """The `SignatureDef` protos of a saved_model.pb, by name."""
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(path.read_bytes())
    return dict(saved_model.meta_graphs[0].signature_def)


def _as_json(signature_defs):
    """A `SignatureDef` map as TF Serving's REST metadata answers it."""
    return {
        "signature_def": {
            name: json_format.MessageToDict(signature_def, **_AS_TF_SERVING)
            for name, signature_def in signature_defs.items()
        }
    }
