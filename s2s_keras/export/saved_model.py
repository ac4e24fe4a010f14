"""A SavedModel that takes raw text and returns text: tokenizer, search, detokenizer.

Any TensorFlow program loads it, in Python with only:

    import keras
import tensorflow as tf
    import tensorflow_text  # registers the SentencePiece ops the graph uses
    model = tf.saved_model.load("saved_model")
    model.signatures["serving_default"](text=tf.constant(["some text"]))

Its signatures:

| signature          | inputs                         | outputs                                        |
|--------------------|--------------------------------|------------------------------------------------|
| `serving_default`  | `text` string `(batch,)`       | `text` string `(batch,)`, `score` float `(batch,)` |
| `tokenize`         | `text` string `(batch,)`       | `source_ids` int32 `(batch, S)`                |
| `generate_ids`     | `source_ids` int32 `(batch, S)`| `target_ids` int32 `(batch, T)`, `score`       |
| `detokenize`       | `target_ids` int32 `(batch, T)`| `text` string `(batch,)`                       |
| `attention`        | `text` string `(batch,)`       | `source_tokens`, `output_tokens` string, `weights` float `(batch, T, S)` |

Whatever text arrives, it answers: invalid UTF-8 bytes are replaced (U+FFFD),
empty input gives empty output, long input is cut to the model's maximum
source length.
"""

import keras
import tensorflow as tf

from s2s_keras.decoding import Generator
from s2s_keras.layers import AttentionDecoder
from s2s_keras.special_tokens import PAD_ID

TEXT = tf.TensorSpec([None], tf.string, name="text")
IDS = tf.TensorSpec([None, None], tf.int32)


class Seq2SeqServer(tf.Module):
    """Raw text in, generated text out: the module a SavedModel export holds.

    Args:
        model: a trained model from `build_seq2seq`.
        source_tokenizer: `SubwordTokenizer` of the sources.
        target_tokenizer: `SubwordTokenizer` of the targets.
        max_source_length: int, source ids kept (the rest is cut).
        **generator_options: `Generator` arguments (`max_length`, `method`,
            `beam_width`, ...), fixed at export time.
    """

    def __init__(
        self,
        model,
        source_tokenizer,
        target_tokenizer,
        max_source_length,
        **generator_options,
    ):
        super().__init__(name="seq2seq_server")
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.max_source_length = int(max_source_length)
        self.generator = Generator(model, **generator_options)
        self.has_attention = isinstance(model.get_layer("decoder"), AttentionDecoder)
        if self.has_attention:
            self.attention_generator = Generator(
                model, **{**generator_options, "return_attention": True}
            )

    @tf.function(input_signature=[TEXT])
    def tokenize(self, text):
        text = tf.strings.unicode_transcode(
            text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
        )
        ids = self.source_tokenizer.tokenize(text)[:, : self.max_source_length]
        ids = ids.to_tensor(default_value=PAD_ID)  # (batch, S)
        # At least one column, so that a batch of empty strings still has a shape
        # the encoder accepts; the pad is masked.
        missing = tf.maximum(1 - tf.shape(ids)[1], 0)
        ids = tf.pad(ids, [[0, 0], [0, missing]])
        return {"source_ids": ids}

    @tf.function(input_signature=[IDS])
    def generate_ids(self, source_ids):
        outputs = self.generator(source_ids)
        return {"target_ids": outputs["target_ids"], "scores": outputs["scores"]}

    @tf.function(input_signature=[IDS])
    def detokenize(self, target_ids):
        return {"text": self.target_tokenizer.detokenize(target_ids)}

    @tf.function(input_signature=[TEXT])
    def serve(self, text):
        source_ids = self.tokenize(text)["source_ids"]
        generated = self.generate_ids(source_ids)
        return {
            "text": self.detokenize(generated["target_ids"])["text"],
            "scores": generated["scores"],
        }

    @tf.function(input_signature=[TEXT])
    def attention(self, text):
        source_ids = self.tokenize(text)["source_ids"]
        outputs = self.attention_generator(source_ids)
        target_ids = outputs["target_ids"]
        return {
            "source_tokens": self._pieces(self.source_tokenizer, source_ids),
            "output_tokens": self._pieces(self.target_tokenizer, target_ids),
            "weights": outputs["attention"],  # (batch, T, S)
        }

    @staticmethod
    def _pieces(tokenizer, ids):
        """Ids `(batch, T)` -> their pieces, `""` at padding."""
        pieces = tokenizer.id_to_token(tf.reshape(ids, [-1]))
        pieces = tf.reshape(pieces, tf.shape(ids))
        return tf.where(tf.equal(ids, PAD_ID), "", pieces)

    def signatures(self):
        signatures = {
            "serving_default": self.serve,
            "tokenize": self.tokenize,
            "generate_ids": self.generate_ids,
            "detokenize": self.detokenize,
        }
        if self.has_attention:
            signatures["attention"] = self.attention
        return signatures


def export_saved_model(server, path):
    """Writes `server` (a `Seq2SeqServer`) as a SavedModel at `path`.

    Through `keras.export.ExportArchive`, which lists the model's variables
    where TF1-style loaders (TF Serving, `saved_model_cli`) restore them;
    a plain `tf.saved_model.save` of a module holding a Keras 3 model loads
    in TF2 but fails there with "Could not find variable".
    """
    archive = keras.export.ExportArchive()
    archive.track(server.model)
    archive.track(server.source_tokenizer)
    archive.track(server.target_tokenizer)
    for name, function in server.signatures().items():
        archive.add_endpoint(name, function, input_signature=function.input_signature)
    archive.write_out(str(path), verbose=False)
