"""`generate`: output ids for source ids, by greedy, beam or sampling search.

A `Generator` holds one model's search with fixed settings, compiled once
(a `tf.function` with a fixed input signature). `generate()` keeps the
generators it makes, one per model and settings, as keras-hub keeps a
model's `generate_function`: a loop of `generate` calls with the same
settings traces the search once, not at every call. It keeps the
`GENERATORS_KEPT` settings used last for each model (least recently used
out), so that a program trying many settings does not grow without end.
"""

import collections
import inspect
import weakref

import keras
import numpy as np
import tensorflow as tf

from s2s_keras.decoding.controls import Controls
from s2s_keras.decoding.controls import word_starts
from s2s_keras.decoding.methods import get_chooser
from s2s_keras.decoding.search import search
from s2s_keras.layers import AttentionDecoder
from s2s_keras.special_tokens import RESERVED_TOKENS
from s2s_keras.special_tokens import UNK_ID
from s2s_keras.utils.checks import check_bool
from s2s_keras.utils.checks import check_positive_int

PREFIX = tf.TensorSpec([None, None], tf.int32, name="target_prefix")


class Generator(tf.Module):
    """A model's search, compiled once, as a callable `tf.Module`.

    Args:
        model: a model from `build_seq2seq` (layers named `"encoder"` and
            `"decoder"`).
        max_length: int, output tokens at most.
        method: `"greedy"`, `"beam"` or `"sample"` (`METHODS`).
        beam_width: int, live hypotheses per source (beam).
        length_penalty: float, the GNMT exponent (beam); 0 ranks by
            log-probability.
        num_results: int, hypotheses returned per source (beam).
        temperature: float > 0 (sample).
        top_k: int or None (sample).
        top_p: float in (0, 1] or None (sample).
        seed: int, sampling seed: the same seed gives the same sample.
        coverage_penalty: float >= 0, the coverage penalty's beta (beam;
            needs attention).
        coverage_form: `"gnmt"` or `"summary"` (see `beam.py`).
        min_length: int, output tokens at least (`<EOS>` is banned before).
        no_repeat_ngram_size: int, no n-gram occurs twice in an output
            (0 = off).
        ngram_unit: `"word"` (needs `tokenizer`) or `"subword"`: what
            `no_repeat_ngram_size` counts.
        repetition_penalty: float > 0, CTRL's penalty on tokens already
            written (1 = off).
        known_words_only: bool, whether every word written must be a word
            of `lexicon` or of its source (see `known_words.py`).
        tokenizer: the target `SubwordTokenizer`, for word n-grams.
        lexicon: a `Lexicon` of the target vocabulary, for
            `known_words_only`.
        return_attention: bool, whether to return the attention weights.

    See `controls.py` for what each control does.

    Call arguments:
        source_ids: int32 `(batch, S)`, 0 = padding.
        target_prefix: int32 `(batch, P)`, ids each output starts with,
            0-padded at the end (a row of zeros: none); optional.

    Returns:
        A dict of tensors: `"target_ids"` int32 `(batch, T)`, T <=
        max_length, without `<BOS>`/`<EOS>`, 0-padded; `"scores"` float32
        `(batch,)`; with beam search `"n_best_ids"` and `"n_best_scores"`;
        with `return_attention`, `"attention"` float32 `(batch, T, S)`.
    """

    def __init__(
        self,
        model,
        max_length=32,
        method="greedy",
        beam_width=4,
        length_penalty=0.6,
        num_results=1,
        temperature=1.0,
        top_k=None,
        top_p=None,
        seed=0,
        coverage_penalty=0.0,
        coverage_form="gnmt",
        min_length=0,
        no_repeat_ngram_size=0,
        ngram_unit="word",
        repetition_penalty=1.0,
        known_words_only=False,
        tokenizer=None,
        lexicon=None,
        return_attention=False,
        name=None,
    ):
        super().__init__(name=name)
        self.encoder = model.get_layer("encoder")
        self.decoder = model.get_layer("decoder")
        self.max_length = check_positive_int("max_length", max_length)
        self.method = method
        self.chooser = get_chooser(
            method,
            beam_width=beam_width,
            length_penalty=length_penalty,
            num_results=num_results,
            coverage_penalty=coverage_penalty,
            coverage_form=coverage_form,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
        )
        self.known_words = _known_words(model, known_words_only, lexicon)
        self.controls = Controls(
            min_length=min_length,
            no_repeat_ngram_size=no_repeat_ngram_size,
            repetition_penalty=repetition_penalty,
            ngram_unit=ngram_unit,
            word_starts=None if tokenizer is None else word_starts(tokenizer),
            known_words=self.known_words,
        )
        if min_length > max_length:
            raise ValueError(
                "Invalid value for argument min_length. Expected at most "
                f"max_length={max_length}. Received: min_length={min_length}"
            )
        has_attention = isinstance(self.decoder, AttentionDecoder)
        if return_attention and not has_attention:
            raise ValueError(
                "return_attention=True needs a model with attention; this "
                "model's decoder has none."
            )
        if coverage_penalty and not has_attention:
            raise ValueError(
                "coverage_penalty needs a model with attention; this model's "
                f"decoder has none. Received: coverage_penalty={coverage_penalty!r}"
            )
        self.return_attention = return_attention

    def __call__(self, source_ids, target_prefix=None):
        if target_prefix is None:
            target_prefix = tf.zeros([tf.shape(source_ids)[0], 0], tf.int32)
        return self.search(source_ids, target_prefix)

    @tf.function(
        input_signature=[tf.TensorSpec([None, None], tf.int32), PREFIX], autograph=False
    )
    def search(self, source_ids, target_prefix):
        """The compiled search: `__call__` with a prefix (maybe 0 columns)."""
        return search(
            self.encoder,
            self.decoder,
            source_ids,
            self.max_length,
            self.chooser,
            self.controls,
            target_prefix,
            return_attention=self.return_attention,
        )


def _known_words(model, known_words_only, lexicon):
    """The `KnownWords` of a `Generator`, None where the control is off."""
    check_bool("known_words_only", known_words_only)
    if not known_words_only:
        return None
    if lexicon is None:
        raise ValueError(
            "known_words_only=True needs the words the model knows: pass "
            "lexicon=Lexicon.load(directory) (or Lexicon.from_texts(...)). "
            "Received: lexicon=None"
        )
    vocab_size = model.get_layer("decoder").vocab_size
    if lexicon.vocab_size != vocab_size:
        raise ValueError(
            "The lexicon's vocabulary is not the model's. Expected a lexicon "
            f"of {vocab_size} pieces. Received: {lexicon.vocab_size} pieces"
        )
    return lexicon.known_words()


GENERATORS_KEPT = 8  # compiled searches kept per model, the least recently used out
_GENERATORS = weakref.WeakKeyDictionary()  # model -> OrderedDict(settings: Generator)


def generator_for(model, **settings):
    """The model's `Generator` with these settings, made at the first call.

    Args:
        model: a model from `build_seq2seq`.
        **settings: `Generator` arguments.

    Returns:
        The same `Generator` for the same model and settings, so that its
        compiled search is reused, while it is among the `GENERATORS_KEPT`
        used last for the model.
    """
    kept = _GENERATORS.setdefault(model, collections.OrderedDict())
    key = tuple(sorted(settings.items()))
    if key in kept:
        kept.move_to_end(key)
    else:
        kept[key] = Generator(model, **settings)
        while len(kept) > GENERATORS_KEPT:
            kept.popitem(last=False)
    return kept[key]


def generate(
    model, source_ids, max_length=32, method="greedy", target_prefix=None, **settings
):
    """Generates output ids for a batch of source ids.

    Args:
        model: a model from `build_seq2seq`, either flavour.
        source_ids: int `(batch, S)` array or tensor, 0 = padding.
        max_length: int, output tokens at most.
        method: `"greedy"`, `"beam"` or `"sample"`.
        target_prefix: ids every output of a row starts with: a list of
            `batch` lists (possibly empty), or an int array `(batch, P)`
            0-padded at the end. The outputs include them.
        **settings: the other `Generator` arguments (`beam_width`,
            `length_penalty`, `num_results`, `coverage_penalty`,
            `min_length`, `no_repeat_ngram_size`, `ngram_unit`,
            `repetition_penalty`, `known_words_only`, `tokenizer`,
            `lexicon`, `temperature`, `top_k`,
            `top_p`, `seed`, `return_attention`).

    Returns:
        The `Generator` outputs as NumPy arrays: a dict with `"target_ids"`
        int32 `(batch, T)` and `"scores"` `(batch,)`, and the extras asked for.
    """
    generator = generator_for(model, max_length=max_length, method=method, **settings)
    source_ids = tf.cast(source_ids, tf.int32)
    if target_prefix is not None:
        vocab_size = model.get_layer("decoder").vocab_size
        target_prefix = prefix_ids(target_prefix, len(source_ids), vocab_size)
    outputs = generator(source_ids, target_prefix)
    return keras.tree.map_structure(lambda tensor: tensor.numpy(), outputs)


def prefix_ids(target_prefix, batch_size, vocab_size):
    """Checks per-row prefixes and packs them as int32 `(batch, P)`, 0-padded.

    Raises:
        ValueError: not one prefix per row, or an id that is not an output
            token (`<PAD>`, `<BOS>`, `<EOS>` or out of the vocabulary).
    """
    if tf.is_tensor(target_prefix):
        target_prefix = target_prefix.numpy()
    rows = [list(np.asarray(row).reshape(-1)) for row in target_prefix]
    if isinstance(target_prefix, np.ndarray) and target_prefix.ndim == 2:
        # 0-padded rows: the padding after the last id goes.
        rows = [row[: int(np.max(np.nonzero(row)[0], initial=-1)) + 1] for row in rows]
    if len(rows) != batch_size:
        raise ValueError(
            "Expected one target_prefix per source row. Received: "
            f"{len(rows)} prefixes for {batch_size} rows"
        )
    for row in rows:
        bad = [
            int(i)
            for i in row
            if not (i == UNK_ID or len(RESERVED_TOKENS) <= i < vocab_size)
        ]
        if bad:
            raise ValueError(
                "Invalid value for argument target_prefix. Expected output "
                f"token ids ({UNK_ID} or {len(RESERVED_TOKENS)}..{vocab_size - 1}). "
                f"Received: {bad} in {[int(i) for i in row]}"
            )
    width = max((len(row) for row in rows), default=0)
    packed = np.zeros((batch_size, width), "int32")
    for index, row in enumerate(rows):
        packed[index, : len(row)] = row
    return tf.constant(packed)


# Generator arguments that are not decoding settings.
_NOT_SETTINGS = (
    "self",
    "model",
    "tokenizer",
    "lexicon",
    "return_attention",
    "name",
    "num_results",
)


def generator_settings(**options):
    """Every decoding setting of a `Generator` made with `options`.

    Like a generation config: the options given and the defaults of the
    others, so that a reader (`export.json`, a server filling in the
    `generate` signature's inputs) does not need this library's defaults.
    Settings that are None (`top_k`, `top_p` off) are left out.

    Args:
        **options: `Generator` arguments.

    Returns:
        A dict, setting name -> value.
    """
    parameters = inspect.signature(Generator.__init__).parameters
    unknown = sorted(set(options) - set(parameters) - set(_NOT_SETTINGS))
    if unknown:
        raise ValueError(f"Unknown Generator setting(s) {unknown}")
    settings = {
        name: parameter.default
        for name, parameter in parameters.items()
        if name not in _NOT_SETTINGS
    }
    settings.update(options)
    return {name: value for name, value in settings.items() if value is not None}
