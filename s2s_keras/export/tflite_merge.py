"""Several TFLite files of one signature each, merged into one file.

The converter holds everything it converts at once: the summarizer's greedy
and beam signatures converted together grow the process by 0.96 GB, one at a
time by 0.53 GB and then 0.08 GB more (docs/benchmarks.md). So the export
converts each signature alone and merges the files: their subgraphs side by
side, each subgraph index (of the signatures and of the control-flow ops,
`WHILE`, `IF`, `CALL_ONCE` ...) moved past the subgraphs before it, the
operator codes shared, and the constant buffers that are the same bytes
(the weights, which every signature reads) stored once. The merged file is
the size of one converted with both signatures at once.
"""

import flatbuffers
import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

FILE_IDENTIFIER = b"TFL3"


def merge_signatures(files):
    """One TFLite flatbuffer holding the signature of each file.

    Args:
        files: dict signature name -> a TFLite flatbuffer (bytes) of one
            signature (whatever it is called there: a file converted from
            one function names it `serving_default`).

    Returns:
        The merged flatbuffer, as bytes: the signatures in the order given,
        with the names given.

    Raises:
        ValueError: no file, or a file without exactly one signature.
    """
    if not files:
        raise ValueError("Invalid value for argument files: no file to merge.")
    models = []
    for name, flatbuffer in files.items():
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))
        if len(model.signatureDefs or []) != 1:
            raise ValueError(
                "Each file to merge holds one signature. Received: "
                f"{len(model.signatureDefs or [])} for {name!r}"
            )
        model.signatureDefs[0].signatureKey = name.encode("utf-8")
        models.append(model)
    merged = models[0]
    buffers = _Buffers(merged.buffers)
    for model in models[1:]:
        _append(merged, model, buffers)
    builder = flatbuffers.Builder(1024)
    builder.Finish(merged.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


class _Buffers:
    """A model's buffers, and each constant's index by its bytes."""

    def __init__(self, buffers):
        self.buffers = buffers
        self.index = {}
        for index, buffer in enumerate(buffers):
            if _bytes(buffer):
                self.index.setdefault(_bytes(buffer), index)

    def add(self, buffer):
        """The index of `buffer`'s bytes, added if new; 0 (empty) for no bytes."""
        data = _bytes(buffer)
        if not data:
            return 0
        if data not in self.index:
            self.index[data] = len(self.buffers)
            self.buffers.append(buffer)
        return self.index[data]


def _bytes(buffer):
    return None if buffer.data is None else np.asarray(buffer.data).tobytes()


def _append(merged, model, buffers):
    """Moves `model`'s subgraphs, operator codes, buffers and signature into `merged`."""
    first_subgraph = len(merged.subgraphs)
    codes = [_code_index(merged, code) for code in model.operatorCodes]
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            tensor.buffer = buffers.add(model.buffers[tensor.buffer])
        for operator in subgraph.operators or []:
            operator.opcodeIndex = codes[operator.opcodeIndex]
            for options in (operator.builtinOptions, operator.builtinOptions2):
                _move_subgraph_indices(options, first_subgraph)
        merged.subgraphs.append(subgraph)
    (signature,) = model.signatureDefs
    signature.subgraphIndex += first_subgraph
    merged.signatureDefs.append(signature)


def _code_index(merged, code):
    """The index of `code` among `merged`'s operator codes, added if new."""
    key = (code.builtinCode, code.deprecatedBuiltinCode, code.customCode, code.version)
    for index, found in enumerate(merged.operatorCodes):
        if key == (
            found.builtinCode,
            found.deprecatedBuiltinCode,
            found.customCode,
            found.version,
        ):
            return index
    merged.operatorCodes.append(code)
    return len(merged.operatorCodes) - 1


def _move_subgraph_indices(options, offset):
    """Adds `offset` to every subgraph index an op's options name."""
    if options is None:
        return
    for name, value in vars(options).items():
        lowered = name.lower()
        if lowered == "subgraph" or lowered.endswith(
            ("subgraphindex", "subgraphindices")
        ):
            if isinstance(value, (list, np.ndarray)):
                setattr(options, name, [int(index) + offset for index in value])
            else:
                setattr(options, name, value + offset)
