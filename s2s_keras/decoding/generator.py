"""`generate`: output ids for source ids, by greedy, beam or sampling search.

A `Generator` holds one model's search with fixed settings, compiled once
(a `tf.function` with a fixed input signature). `generate()` keeps the
generators it makes, one per model and settings, as keras-hub keeps a
model's `generate_function`: a loop of `generate` calls with the same
settings traces the search once, not at every call.
"""

import weakref

import keras
import tensorflow as tf

from s2s_keras.checks import check_positive_int
from s2s_keras.decoding.methods import get_chooser
from s2s_keras.decoding.search import search
from s2s_keras.layers import AttentionDecoder


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
        return_attention: bool, whether to return the attention weights.

    Call arguments:
        source_ids: int32 `(batch, S)`, 0 = padding.

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
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
        )
        if return_attention and not isinstance(self.decoder, AttentionDecoder):
            raise ValueError(
                "return_attention=True needs a model with attention; this "
                "model's decoder has none."
            )
        self.return_attention = return_attention

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def __call__(self, source_ids):
        return search(
            self.encoder,
            self.decoder,
            source_ids,
            self.max_length,
            self.chooser,
            return_attention=self.return_attention,
        )


_GENERATORS = weakref.WeakKeyDictionary()  # model -> {settings: Generator}


def generator_for(model, **settings):
    """The model's `Generator` with these settings, made at the first call.

    Args:
        model: a model from `build_seq2seq`.
        **settings: `Generator` arguments.

    Returns:
        The same `Generator` for the same model and settings, so that its
        compiled search is reused.
    """
    kept = _GENERATORS.setdefault(model, {})
    key = tuple(sorted(settings.items()))
    if key not in kept:
        kept[key] = Generator(model, **settings)
    return kept[key]


def generate(model, source_ids, max_length=32, method="greedy", **settings):
    """Generates output ids for a batch of source ids.

    Args:
        model: a model from `build_seq2seq`, either flavour.
        source_ids: int `(batch, S)` array or tensor, 0 = padding.
        max_length: int, output tokens at most.
        method: `"greedy"`, `"beam"` or `"sample"`.
        **settings: the other `Generator` arguments (`beam_width`,
            `length_penalty`, `num_results`, `temperature`, `top_k`,
            `top_p`, `seed`, `return_attention`).

    Returns:
        The `Generator` outputs as NumPy arrays: a dict with `"target_ids"`
        int32 `(batch, T)` and `"scores"` `(batch,)`, and the extras asked for.
    """
    generator = generator_for(model, max_length=max_length, method=method, **settings)
    outputs = generator(tf.cast(source_ids, tf.int32))
    return keras.tree.map_structure(lambda tensor: tensor.numpy(), outputs)
