"""`generate`: output ids for source ids, with greedy, beam or sampling search.

The search runs inside one `tf.function` around the decoder's `step`: the
encoder runs once, the decoder once per output position, and nothing goes
back to Python between steps (the keras.io and TensorFlow tutorial loops call
`predict` or an eager step per token).
"""

import keras
import tensorflow as tf

from s2s_keras.checks import check_choice
from s2s_keras.checks import check_positive_int
from s2s_keras.decoding.beam_search import beam_search
from s2s_keras.decoding.token_by_token import decode_token_by_token
from s2s_keras.decoding.token_by_token import greedy_select
from s2s_keras.decoding.token_by_token import sample_select
from s2s_keras.layers import AttentionDecoder

METHODS = ("greedy", "beam", "sample")


class Generator(tf.Module):
    """A model's search, compiled once, as a callable `tf.Module`.

    Args:
        model: a model from `build_seq2seq` (layers named `"encoder"` and
            `"decoder"`).
        max_length: int, output tokens at most.
        method: `"greedy"`, `"beam"` or `"sample"`.
        beam_width: int, live hypotheses per source (beam).
        length_penalty: float, GNMT alpha (beam); 0 ranks by log-probability.
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
        self.method = check_choice("method", method, METHODS)
        self.beam_width = check_positive_int("beam_width", beam_width)
        self.num_results = check_positive_int("num_results", num_results)
        if num_results > beam_width:
            raise ValueError(
                "Invalid value for argument num_results. Expected at most "
                f"beam_width={beam_width}. Received: num_results={num_results}"
            )
        if not temperature > 0:
            raise ValueError(
                "Invalid value for argument temperature. Expected a positive "
                f"float. Received: temperature={temperature!r}"
            )
        if top_k is not None:
            check_positive_int("top_k", top_k)
        if top_p is not None and not 0.0 < top_p <= 1.0:
            raise ValueError(
                "Invalid value for argument top_p. Expected a float in (0, 1]. "
                f"Received: top_p={top_p!r}"
            )
        if return_attention and not isinstance(self.decoder, AttentionDecoder):
            raise ValueError(
                "return_attention=True needs a model with attention; this "
                "model's decoder has none."
            )
        self.length_penalty = float(length_penalty)
        self.temperature = float(temperature)
        self.top_k = top_k
        self.top_p = top_p
        self.seed = int(seed)
        self.return_attention = return_attention

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def __call__(self, source_ids):
        if self.method == "beam":
            return beam_search(
                self.encoder,
                self.decoder,
                source_ids,
                self.max_length,
                beam_width=self.beam_width,
                alpha=self.length_penalty,
                num_results=self.num_results,
                track_attention=self.return_attention,
            )
        if self.method == "greedy":
            select = greedy_select()
        else:
            select = sample_select(self.temperature, self.top_k, self.top_p, self.seed)
        return decode_token_by_token(
            self.encoder,
            self.decoder,
            source_ids,
            self.max_length,
            select,
            track_attention=self.return_attention,
        )


def generate(model, source_ids, max_length=32, method="greedy", **options):
    """Generates output ids for a batch of source ids.

    Args:
        model: a model from `build_seq2seq`, either flavour.
        source_ids: int `(batch, S)` array or tensor, 0 = padding.
        max_length: int, output tokens at most.
        method: `"greedy"`, `"beam"` or `"sample"`.
        **options: the other `Generator` arguments (`beam_width`,
            `length_penalty`, `num_results`, `temperature`, `top_k`,
            `top_p`, `seed`, `return_attention`).

    Returns:
        The `Generator` outputs as NumPy arrays: a dict with `"target_ids"`
        int32 `(batch, T)` and `"scores"` `(batch,)`, and the extras asked for.
    """
    generator = Generator(model, max_length=max_length, method=method, **options)
    outputs = generator(tf.cast(source_ids, tf.int32))
    return keras.tree.map_structure(lambda tensor: tensor.numpy(), outputs)
