"""Token choosers: how the search loop picks the next tokens.

In the manner of keras-hub's samplers, the loop (`search.py`) is written
once and a chooser only decides the next tokens from the step's
log-probabilities. `methods.get_chooser(name, **options)` makes one by name,
for the `--method` flag:

| name     | class          | y_t                                                |
|----------|----------------|----------------------------------------------------|
| `greedy` | `Greedy`       | argmax_w log P(w | y_<t, x)                        |
| `sample` | `Sampling`     | drawn from softmax(log P / temperature), top-k/p   |
| `beam`   | `BeamSearch`   | the beam_width best extensions (see `beam.py`)     |

A chooser's loop state (`progress`) is a nest of tensors that it makes in
`start`, updates in `choose` and turns into outputs in `results`.
"""

import collections

import tensorflow as tf

from s2s_keras.decoding.search import NEGATIVE
from s2s_keras.decoding.search import words_only
from s2s_keras.special_tokens import EOS_ID
from s2s_keras.special_tokens import PAD_ID
from s2s_keras.utils.checks import check_positive_int


class TokenChooser:
    """The base class: one hypothesis per source, one token per step.

    Subclasses set `width` (hypotheses kept per source) and implement
    `pick`, or override `start`, `choose`, `all_done` and `results` (beam
    search). The outputs are `"target_ids"` `(batch, T)` and `"scores"`
    `(batch,)`, the sum of the chosen tokens' log-probabilities (`<EOS>`
    included), and the attention `(batch, T, S)` if asked for.
    """

    width = 1
    needs_attention = False  # whether `choose` reads the attention weights

    def pick(self, log_probs, step):
        """`(batch, vocab)` float32 log-probabilities -> `(batch,)` int32 ids."""
        raise NotImplementedError

    def start(self, source_mask, max_length, return_attention):
        """The loop state before the first step.

        Args:
            source_mask: bool `(batch, S)`, the real source positions.
            max_length: int or int32 scalar, output tokens at most.
            return_attention: bool, whether to keep the outputs' attention.
        """
        batch_size = tf.shape(source_mask)[0]
        attention_size = tf.shape(source_mask)[1] if return_attention else 0
        return OneHypothesis(
            ids=tf.zeros([batch_size, max_length], tf.int32),
            scores=tf.zeros([batch_size], tf.float32),
            finished=tf.zeros([batch_size], tf.bool),
            attention=tf.zeros([batch_size, max_length, attention_size], tf.float32),
        )

    def choose(self, step, log_probs, weights, progress):
        """Picks the next token of every source.

        Args:
            step: int32 scalar, the position being written.
            log_probs: float32 `(batch * width, vocab)`.
            weights: float32 `(batch * width, S)`, this step's attention,
                or None when neither the chooser nor the caller asks for it.
            progress: the chooser's loop state.

        Returns:
            `(tokens (batch * width,), origin, progress)`; `origin` is None,
            or int32 `(batch, width)`: which hypothesis each new one extends.
        """
        ids, scores, finished, attention = progress
        max_length = tf.shape(ids)[1]
        tokens = tf.where(finished, PAD_ID, self.pick(log_probs, step))  # (batch,)
        chosen = tf.gather(log_probs, tokens, batch_dims=1)  # (batch,)
        scores += tf.where(finished, 0.0, chosen)
        at_step = tf.one_hot(step, max_length, dtype=tf.int32)  # (max_length,)
        ids += tokens[:, None] * at_step[None, :]  # (batch, max_length)
        if weights is not None:
            live = 1.0 - tf.cast(finished, tf.float32)
            placed = tf.cast(at_step, tf.float32)[None, :, None] * live[:, None, None]
            attention += weights[:, None, :] * placed
        finished = tf.logical_or(finished, tf.equal(tokens, EOS_ID))
        return tokens, None, OneHypothesis(ids, scores, finished, attention)

    def all_done(self, progress):
        return tf.reduce_all(progress.finished)

    def results(self, progress, steps, return_attention):
        ids, length = words_only(progress.ids)
        outputs = {"target_ids": ids, "scores": progress.scores}
        if return_attention:
            outputs["attention"] = progress.attention[:, :length]  # (batch, T, S)
        return outputs


OneHypothesis = collections.namedtuple(
    "OneHypothesis", ["ids", "scores", "finished", "attention"]
)
OneHypothesis.__doc__ = """The greedy and sampling loop state, one row per source.

ids int32 `(batch, max_length)`; scores float32 `(batch,)`; finished bool
`(batch,)`, whether `<EOS>` was chosen; attention float32 `(batch,
max_length, S)` (S = 0 when not tracked).
"""


class Greedy(TokenChooser):
    """The most likely token at every step."""

    def pick(self, log_probs, step):
        return tf.argmax(log_probs, axis=-1, output_type=tf.int32)


class Sampling(TokenChooser):
    """A token drawn at random, seeded: the same seed gives the same draw.

    Args:
        temperature: float > 0; below 1 sharpens the distribution, above 1
            flattens it. As it goes to 0 sampling becomes greedy.
        top_k: int, draw only among the k most likely tokens.
        top_p: float in (0, 1], draw only among the most likely tokens whose
            probabilities add up to p (nucleus sampling).
        seed: int, the draw at step t uses the stateless seed `(seed, t)`,
            for the whole batch: the same batch and seed give the same
            sample, but a sentence may draw differently in another batch.
    """

    def __init__(self, temperature=1.0, top_k=None, top_p=None, seed=0):
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
        self.temperature = float(temperature)
        self.top_k = top_k
        self.top_p = top_p
        self.seed = int(seed)

    def pick(self, log_probs, step):
        logits = log_probs / self.temperature  # (batch, vocab)
        if self.top_k:
            kth_best = tf.math.top_k(logits, k=self.top_k).values[:, -1:]  # (batch, 1)
            logits = tf.where(logits < kth_best, NEGATIVE, logits)
        if self.top_p is not None and self.top_p < 1.0:
            sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")
            mass_before = tf.cumsum(
                tf.nn.softmax(sorted_logits), axis=-1, exclusive=True
            )
            # The smallest logit still inside the nucleus (the best is always in).
            threshold = tf.reduce_min(
                tf.where(mass_before < self.top_p, sorted_logits, -NEGATIVE),
                axis=-1,
                keepdims=True,
            )
            logits = tf.where(logits < threshold, NEGATIVE, logits)
        step_seed = tf.stack([tf.constant(self.seed, tf.int32), step])
        drawn = tf.random.stateless_categorical(
            logits, 1, seed=step_seed, dtype=tf.int32
        )
        return drawn[:, 0]  # (batch,)
