"""A SavedModel that takes raw text and returns text: tokenizer, search, detokenizer.

Any TensorFlow program loads it, in Python with only:

    import tensorflow as tf
    import tensorflow_text  # registers the SentencePiece ops the graph uses
    model = tf.saved_model.load("saved_model")
    model.signatures["serving_default"](text=tf.constant(["some text"]))

Its signatures:

| signature         | inputs                                   | outputs                                         |
|-------------------|------------------------------------------|-------------------------------------------------|
| `serving_default` | `text` string `(batch,)`                 | `text` string `(batch,)`, `scores` float `(batch,)` |
| `generate`        | `text`, `target_prefix` string `(batch,)`; the numeric settings below, scalars | `text`, `scores`; with beam search `n_best` string `(batch, n)`, `n_best_scores` |
| `score`           | `source`, `target` string `(batch,)`     | `log_likelihood` float `(batch,)`, `length` int32 `(batch,)` (tokens scored, `<EOS>` included) |
| `tokenize`        | `text` string `(batch,)`                 | `source_ids` int32 `(batch, S)`                 |
| `generate_ids`    | `source_ids` int32 `(batch, S)`          | `target_ids` int32 `(batch, T)`, `scores`       |
| `detokenize`      | `target_ids` int32 `(batch, T)`          | `text` string `(batch,)`                        |
| `attention`       | `text` string `(batch,)`                 | `source_tokens`, `output_tokens` string, `weights` float `(batch, T, S)` |

`serving_default`, `generate_ids` and `attention` decode with the settings
fixed at export (`export.json`). `generate` takes the numeric ones as
inputs, so a program changes them per call without a new export: int32
`max_length`, `min_length`, `no_repeat_ngram_size`; float32
`repetition_penalty`, `length_penalty`, `coverage_penalty` (the last two
for beam search, the coverage penalty with attention only); the method,
beam width, n-gram unit and `known_words_only` (a word only if the
training text or the source has it; the lexicon is held in the graph)
stay the export's. Its `target_prefix` is text
each output starts with ("" for none), per row.

**Bounds.** Every signature bounds its own cost, for any TensorFlow program
that loads it, not only behind `python -m s2s_keras.serve`:

| input | rule |
|---|---|
| a source (`text`, `source`, `source_ids`) | cut to `max_source_length` tokens |
| a `score` target | cut to `max_target_length` tokens (`length` says how many were scored) |
| `max_length` | rejected outside 1..`max_target_length` |
| `min_length` | rejected outside 0..`max_length` |
| `no_repeat_ngram_size` | rejected outside 0..`max_length` |
| `repetition_penalty` | rejected unless finite and > 0 |
| `length_penalty`, `coverage_penalty` | rejected unless finite and >= 0 |
| ids (`source_ids`, `target_ids`) | rejected outside 0..vocabulary size - 1 |

A rejected input raises `tf.errors.InvalidArgumentError` naming the input
and the value received (the server answers 400). Both lengths are in
`export.json` (`max_source_length`, `max_target_length`).

Whatever text arrives, it answers: invalid UTF-8 bytes are replaced (U+FFFD),
empty input gives empty output, long input is cut as above.
"""

import keras
import tensorflow as tf

from s2s_keras.decoding import Controls
from s2s_keras.decoding import Generator
from s2s_keras.decoding import get_chooser
from s2s_keras.decoding import log_likelihood
from s2s_keras.decoding import search
from s2s_keras.export.graph_checks import checked_ids
from s2s_keras.export.graph_checks import checked_settings
from s2s_keras.export.graph_checks import checked_tags
from s2s_keras.export.graph_checks import valid_utf8
from s2s_keras.layers import AttentionDecoder
from s2s_keras.special_tokens import PAD_ID
from s2s_keras.utils.checks import check_positive_int

TEXT = tf.TensorSpec([None], tf.string, name="text")
IDS = tf.TensorSpec([None, None], tf.int32)
# The default cap of generate's max_length and score's targets, as a multiple
# of the export's max_length: the model learnt targets about that long, so
# longer outputs say little, and a call's length stays near a normal one's.
TARGET_LENGTH_FACTOR = 4


def _scalar(dtype, name):
    return tf.TensorSpec([], dtype, name=name)


SETTINGS = [
    tf.TensorSpec([None], tf.string, name="target_prefix"),
    _scalar(tf.int32, "max_length"),
    _scalar(tf.int32, "min_length"),
    _scalar(tf.int32, "no_repeat_ngram_size"),
    _scalar(tf.float32, "repetition_penalty"),
    _scalar(tf.float32, "length_penalty"),
    _scalar(tf.float32, "coverage_penalty"),
]


class Seq2SeqServer(tf.Module):
    """Raw text in, generated text out: the module a SavedModel export holds.

    Args:
        model: a trained model from `build_seq2seq`.
        source_tokenizer: `SubwordTokenizer` of the sources.
        target_tokenizer: `SubwordTokenizer` of the targets.
        max_source_length: int, source ids kept (the rest is cut).
        max_target_length: int, the most output tokens `generate` may be
            asked for and target tokens `score` scores (the rest is cut); at
            least the generator's `max_length`. None: `TARGET_LENGTH_FACTOR`
            (4) times the generator's `max_length`.
        target_prefix: text every output of the fixed-setting signatures
            starts with ("" for none).
        **generator_options: `Generator` arguments (`max_length`, `method`,
            `beam_width`, `no_repeat_ngram_size`, ...), fixed at export time
            for all but the `generate` signature.
    """

    def __init__(
        self,
        model,
        source_tokenizer,
        target_tokenizer,
        max_source_length,
        max_target_length=None,
        target_prefix="",
        **generator_options,
    ):
        super().__init__(name="seq2seq_server")
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.max_source_length = check_positive_int(
            "max_source_length", max_source_length
        )
        self.options = {"tokenizer": target_tokenizer, **generator_options}
        self.generator = Generator(model, **self.options)
        if max_target_length is None:
            max_target_length = TARGET_LENGTH_FACTOR * self.generator.max_length
        self.max_target_length = check_positive_int(
            "max_target_length", max_target_length
        )
        if self.max_target_length < self.generator.max_length:
            raise ValueError(
                "Invalid value for argument max_target_length. Expected at least "
                f"the generator's max_length={self.generator.max_length}. "
                f"Received: max_target_length={max_target_length}"
            )
        self.prefix_ids = target_tokenizer.tokenize([target_prefix]).to_tensor()
        self.has_attention = isinstance(model.get_layer("decoder"), AttentionDecoder)
        if self.has_attention:
            self.attention_generator = Generator(
                model, **self.options, return_attention=True
            )

    @tf.function(input_signature=[TEXT], autograph=False)
    def tokenize(self, text):
        text = valid_utf8(text)
        if self.source_tokenizer.target_tags:
            text = checked_tags(text, self.source_tokenizer.target_tags)
        ids = self.source_tokenizer.tokenize(text)
        ids = ids[:, : self.max_source_length]
        ids = ids.to_tensor(default_value=PAD_ID)  # (batch, S)
        # At least one column, so that a batch of empty strings still has a shape
        # the encoder accepts; the pad is masked.
        missing = tf.maximum(1 - tf.shape(ids)[1], 0)
        ids = tf.pad(ids, [[0, 0], [0, missing]])
        return {"source_ids": ids}

    def _fixed_prefix(self, source_ids):
        """The export's prefix for every row `(batch, P)`."""
        return tf.tile(self.prefix_ids, [tf.shape(source_ids)[0], 1])

    def _sources(self, source_ids):
        """Source ids checked against the vocabulary and cut to the maximum."""
        source_ids = checked_ids(
            source_ids, self.source_tokenizer.vocab_size, "source_ids"
        )
        return source_ids[:, : self.max_source_length]

    @tf.function(input_signature=[IDS], autograph=False)
    def generate_ids(self, source_ids):
        source_ids = self._sources(source_ids)
        outputs = self.generator(source_ids, self._fixed_prefix(source_ids))
        return {"target_ids": outputs["target_ids"], "scores": outputs["scores"]}

    @tf.function(input_signature=[TEXT, *SETTINGS], autograph=False)
    def generate(
        self,
        text,
        target_prefix,
        max_length,
        min_length,
        no_repeat_ngram_size,
        repetition_penalty,
        length_penalty,
        coverage_penalty,
    ):
        cap = self.max_target_length
        (
            max_length,
            min_length,
            no_repeat_ngram_size,
            repetition_penalty,
            length_penalty,
            coverage_penalty,
        ) = checked_settings(
            {
                "max_length": (
                    max_length,
                    (max_length >= 1) & (max_length <= cap),
                    f"in 1..{cap} (this export's max_target_length)",
                ),
                "min_length": (
                    min_length,
                    (min_length >= 0) & (min_length <= max_length),
                    "in 0..max_length",
                ),
                "no_repeat_ngram_size": (
                    no_repeat_ngram_size,
                    (no_repeat_ngram_size >= 0) & (no_repeat_ngram_size <= max_length),
                    "in 0..max_length",
                ),
                "repetition_penalty": (
                    repetition_penalty,
                    repetition_penalty > 0,
                    "finite and > 0",
                ),
                "length_penalty": (
                    length_penalty,
                    length_penalty >= 0,
                    "finite and >= 0",
                ),
                "coverage_penalty": (
                    coverage_penalty,
                    coverage_penalty >= 0,
                    "finite and >= 0",
                ),
            }
        )
        options = self.options
        chooser = get_chooser(
            options.get("method", "greedy"),
            beam_width=options.get("beam_width", 4),
            num_results=options.get("beam_width", 4),
            length_penalty=length_penalty,
            coverage_penalty=coverage_penalty if self.has_attention else 0.0,
            coverage_form=options.get("coverage_form", "gnmt"),
            **{
                key: options[key]
                for key in ("temperature", "top_k", "top_p", "seed")
                if key in options
            },
        )
        controls = Controls(
            min_length=min_length,
            no_repeat_ngram_size=no_repeat_ngram_size,
            repetition_penalty=repetition_penalty,
            ngram_unit=options.get("ngram_unit", "word"),
            word_starts=self.generator.controls.word_starts,
            known_words=self.generator.known_words,
        )
        source_ids = self.tokenize(text)["source_ids"]
        tf.debugging.assert_equal(
            tf.shape(target_prefix)[0],
            tf.shape(text)[0],
            message="generate: target_prefix needs one text (maybe empty) per text",
        )
        prefix = self.target_tokenizer.tokenize(valid_utf8(target_prefix))
        prefix = prefix.to_tensor()
        found = search(
            self.model.get_layer("encoder"),
            self.model.get_layer("decoder"),
            source_ids,
            max_length,
            chooser,
            controls,
            prefix,
        )
        outputs = {
            "text": self.detokenize(found["target_ids"])["text"],
            "scores": found["scores"],
        }
        if "n_best_ids" in found:
            n_best = found["n_best_ids"]  # (batch, n, T)
            shape = tf.shape(n_best)
            texts = self.detokenize(tf.reshape(n_best, [-1, shape[2]]))["text"]
            outputs["n_best"] = tf.reshape(texts, shape[:2])
            outputs["n_best_scores"] = found["n_best_scores"]
        return outputs

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="source"),
            tf.TensorSpec([None], tf.string, name="target"),
        ],
        autograph=False,
    )
    def score(self, source, target):
        source_ids = self.tokenize(source)["source_ids"]
        target_ids = self.target_tokenizer.tokenize(valid_utf8(target))
        target_ids = target_ids[:, : self.max_target_length].to_tensor()
        per_token = log_likelihood(self.model, source_ids, target_ids)
        return {
            "log_likelihood": tf.reduce_sum(per_token, axis=1),
            "length": tf.reduce_sum(tf.cast(target_ids != PAD_ID, tf.int32), 1) + 1,
        }

    @tf.function(input_signature=[IDS], autograph=False)
    def detokenize(self, target_ids):
        target_ids = checked_ids(
            target_ids, self.target_tokenizer.vocab_size, "target_ids"
        )
        return {"text": self.target_tokenizer.detokenize(target_ids)}

    @tf.function(input_signature=[TEXT], autograph=False)
    def serve(self, text):
        source_ids = self.tokenize(text)["source_ids"]
        generated = self.generate_ids(source_ids)
        return {
            "text": self.detokenize(generated["target_ids"])["text"],
            "scores": generated["scores"],
        }

    @tf.function(input_signature=[TEXT], autograph=False)
    def attention(self, text):
        source_ids = self.tokenize(text)["source_ids"]
        outputs = self.attention_generator(source_ids, self._fixed_prefix(source_ids))
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
            "generate": self.generate,
            "score": self.score,
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
