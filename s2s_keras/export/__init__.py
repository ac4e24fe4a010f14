"""Exports: SavedModel (text in, text out), TFLite (ids in, ids out), .keras."""

from s2s_keras.export.directory import load_model
from s2s_keras.export.directory import predict_texts
from s2s_keras.export.directory import quantized_copy
from s2s_keras.export.directory import read_export
from s2s_keras.export.directory import write_export
from s2s_keras.export.saved_model import Seq2SeqServer
from s2s_keras.export.saved_model import export_saved_model
from s2s_keras.export.tflite import convert_to_tflite
from s2s_keras.export.tflite import export_tflite
from s2s_keras.export.tflite import tflite_ops

__all__ = [
    "Seq2SeqServer",
    "convert_to_tflite",
    "export_saved_model",
    "export_tflite",
    "load_model",
    "predict_texts",
    "quantized_copy",
    "read_export",
    "tflite_ops",
    "write_export",
]
