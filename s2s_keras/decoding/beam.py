"""Beam search with the GNMT length penalty, as a token chooser.

Each source keeps `beam_width` hypotheses. At every step each live one is
extended by every word and the `beam_width` best extensions are kept (as in
OpenNMT). An extension that ends in `<EOS>` joins the finished hypotheses,
scored with the length penalty of Wu et al. (2016), and is not extended:

    score(Y) = log P(Y | X) / lp(Y),   lp(Y) = ((5 + |Y|) / 6) ** length_penalty

With a coverage penalty beta, a finished hypothesis also gets cp(Y), from
its attention summed over the steps, cov_i = sum_t alpha_{t,i} (the step
that chose `<EOS>` included), over the real source positions i, in one of
two forms (`coverage_form`):

    "gnmt":     cp(Y) = beta * sum_i log(min(cov_i, 1))     (Wu et al., 2016)
    "summary":  cp(Y) = -beta * sum_i (max(cov_i, 1) - 1)   (OpenNMT-py's)

GNMT's rewards an output that attends to every source word at least once
(a translation); a position never attended counts as log(1e-9). The
summary form instead penalizes attending to a source word more than once
in all, which is what repeats in a summary look like: a summary is short
and leaves most of its source unread, so GNMT's form would push it to read
everything.

A source is done once no live hypothesis can still beat its `num_results`
best finished ones: a live hypothesis's log-probability can only fall as it
grows, so the best it can still reach is its log-probability now over the
largest length penalty it can still get (`lp(max_length)` for a penalty
>= 0), plus the largest coverage penalty, 0. Stopping when the best
extension of a step ends would be wrong with a length penalty: a longer
live hypothesis can still win after normalization. At `max_length` the live hypotheses are scored as they stand
and join the finished ones. With `beam_width=1` this is greedy decoding.

Fewer than `num_results` hypotheses can exist (a vocabulary of a few words
and a short `max_length`): the places left have the score `-inf` and no ids,
so that no placeholder passes for a real hypothesis.

At the first step every source has one hypothesis, `<BOS>`: the other
`beam_width - 1` start with the score `NEGATIVE`, so the k best first
words all extend the real one.
"""

import collections

import tensorflow as tf

from s2s_keras.decoding.choosers import TokenChooser
from s2s_keras.decoding.search import NEGATIVE
from s2s_keras.decoding.search import words_only
from s2s_keras.special_tokens import EOS_ID
from s2s_keras.utils.checks import check_choice
from s2s_keras.utils.checks import check_non_negative_float
from s2s_keras.utils.checks import check_positive_int

Hypotheses = collections.namedtuple(
    "Hypotheses", ["ids", "scores", "attention", "coverage"]
)
Hypotheses.__doc__ = """k hypotheses per source.

ids int32 `(batch, k, max_length)`; scores float32 `(batch, k)`, the
log-probability (live ones) or the final score (finished ones), `NEGATIVE`
for an empty place; attention float32 `(batch, k, max_length, S)` (S = 0
when not returned); coverage float32 `(batch, k, S)`, the attention summed
over the steps, 1 at padding (S = 0 without a coverage penalty).
"""

COVERAGE_FLOOR = 1e-9  # log(min(coverage, 1)) of a position never attended

BeamProgress = collections.namedtuple("BeamProgress", ["alive", "finished", "done"])
BeamProgress.__doc__ = """The beam search loop state: live and finished
`Hypotheses`, and `done` bool `(batch,)`, the sources whose search is over."""


def length_penalty_of(length, length_penalty):
    """GNMT length penalty `((5 + length) / 6) ** length_penalty`."""
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, length_penalty)


COVERAGE_FORMS = ("gnmt", "summary")


def coverage_penalty_of(coverage, coverage_penalty, form="gnmt"):
    """The coverage penalty of summed attention `(..., S)` -> `(...)`, <= 0.

    Padding holds coverage 1, which costs nothing in either form.
    """
    if coverage.shape[-1] == 0:
        return 0.0
    if form == "summary":
        excess = tf.maximum(coverage, 1.0) - 1.0
        return -coverage_penalty * tf.reduce_sum(excess, axis=-1)
    covered = tf.maximum(tf.minimum(coverage, 1.0), COVERAGE_FLOOR)
    return coverage_penalty * tf.reduce_sum(tf.math.log(covered), axis=-1)


class BeamSearch(TokenChooser):
    """Keeps the `beam_width` best hypotheses of every source.

    Args:
        beam_width: int, live hypotheses per source.
        length_penalty: float, the GNMT exponent; 0 ranks by log-probability.
        num_results: int <= beam_width, hypotheses returned per source.
        coverage_penalty: float >= 0, the coverage penalty's beta; 0 turns
            it off. Needs a model with attention.
        coverage_form: `"gnmt"` or `"summary"` (see the module docstring).

    `length_penalty` and `coverage_penalty` may be scalar tensors (the
    SavedModel's `generate` signature).

    Outputs (see `search`): `"target_ids"` and `"scores"` of the best
    hypothesis, its final score (log P / lp + cp); `"n_best_ids"`
    `(batch, num_results, T)` and `"n_best_scores"` `(batch, num_results)`,
    best first (`-inf` and no ids where fewer hypotheses exist); and the
    best one's `"attention"` if asked for.
    """

    def __init__(
        self,
        beam_width=4,
        length_penalty=0.6,
        num_results=1,
        coverage_penalty=0.0,
        coverage_form="gnmt",
    ):
        self.width = check_positive_int("beam_width", beam_width)
        self.num_results = check_positive_int("num_results", num_results)
        if num_results > beam_width:
            raise ValueError(
                "Invalid value for argument num_results. Expected at most "
                f"beam_width={beam_width}. Received: num_results={num_results}"
            )
        self.length_penalty = _number(length_penalty, float)
        if not tf.is_tensor(coverage_penalty):
            check_non_negative_float("coverage_penalty", coverage_penalty)
        self.coverage_penalty = _number(coverage_penalty, float)
        self.coverage_form = check_choice(
            "coverage_form", coverage_form, COVERAGE_FORMS
        )
        self.needs_attention = tf.is_tensor(coverage_penalty) or coverage_penalty > 0

    def start(self, source_mask, max_length, return_attention):
        k = self.width
        batch_size = tf.shape(source_mask)[0]
        attention_size = tf.shape(source_mask)[1] if return_attention else 0
        if self.needs_attention:  # padding counts as covered
            covered = tf.where(source_mask, 0.0, 1.0)[:, None, :]  # (batch, 1, S)
            coverage = tf.tile(covered, [1, k, 1])
        else:
            coverage = tf.zeros([batch_size, k, 0])

        def empty(first_score):
            return Hypotheses(
                tf.zeros([batch_size, k, max_length], tf.int32),
                tf.fill([batch_size, k], first_score),
                tf.zeros([batch_size, k, max_length, attention_size], tf.float32),
                coverage,
            )

        only_the_first = tf.concat([[0.0], tf.fill([k - 1], NEGATIVE)], axis=0)
        alive = empty(0.0)._replace(
            scores=tf.tile(only_the_first[None], [batch_size, 1])
        )
        return BeamProgress(alive, empty(NEGATIVE), tf.zeros([batch_size], tf.bool))

    def choose(self, step, log_probs, weights, progress):
        k, penalty = self.width, self.length_penalty
        alive, finished, done = progress
        batch_size, max_length = tf.shape(alive.ids)[0], tf.shape(alive.ids)[2]
        vocab_size = tf.shape(log_probs)[-1]
        candidates = alive.scores[:, :, None] + tf.reshape(
            log_probs, [batch_size, k, vocab_size]
        )
        flat = tf.reshape(candidates, [batch_size, -1])  # (batch, k * vocab)
        top_scores, top_index = tf.math.top_k(flat, k=k)  # (batch, k), best first
        origin = top_index // vocab_size  # (batch, k): the hypothesis extended
        top_tokens = top_index % vocab_size
        at_step = tf.one_hot(step, max_length, dtype=tf.int32)  # (max_length,)
        top_ids = tf.gather(alive.ids, origin, batch_dims=1)  # (batch, k, L)
        top_ids += top_tokens[:, :, None] * at_step[None, None, :]
        top_attention = tf.gather(alive.attention, origin, batch_dims=1)
        top_coverage = tf.gather(alive.coverage, origin, batch_dims=1)
        if weights is not None:
            step_weights = tf.reshape(weights, [batch_size, k, -1])
            step_weights = tf.gather(step_weights, origin, batch_dims=1)
            if alive.attention.shape[-1] != 0:
                placed = tf.cast(at_step, tf.float32)[None, None, :, None]
                top_attention += step_weights[:, :, None, :] * placed
            if self.needs_attention:
                top_coverage += step_weights  # (batch, k, S)
        real = tf.logical_and(top_scores > NEGATIVE / 2, tf.logical_not(done)[:, None])
        ends = tf.logical_and(tf.equal(top_tokens, EOS_ID), real)  # (batch, k)

        final = top_scores / length_penalty_of(step + 1, penalty)
        final += self._coverage_penalty(top_coverage)
        extended = Hypotheses(top_ids, final, top_attention, top_coverage)
        finished = _keep_best(finished, extended, ends, k)
        live = tf.logical_and(real, tf.logical_not(ends))
        live_scores = tf.where(live, top_scores, NEGATIVE)  # (batch, k)
        # The best normalized score a live hypothesis can still reach; lp is
        # monotonic in the length, so its largest value is at an end.
        largest_penalty = tf.maximum(
            length_penalty_of(step + 1, penalty),
            length_penalty_of(max_length, penalty),
        )
        reachable = tf.reduce_max(live_scores, axis=1) / largest_penalty
        beaten = finished.scores[:, self.num_results - 1] >= reachable
        done = tf.logical_or(done, tf.logical_or(beaten, ~tf.reduce_any(live, 1)))
        live = tf.logical_and(live, tf.logical_not(done)[:, None])
        alive = Hypotheses(
            top_ids, tf.where(live, top_scores, NEGATIVE), top_attention, top_coverage
        )
        tokens = tf.reshape(top_tokens, [-1])  # (batch * k,)
        return tokens, origin, BeamProgress(alive, finished, done)

    def all_done(self, progress):
        return tf.reduce_all(progress.done)

    def _coverage_penalty(self, coverage):
        return coverage_penalty_of(coverage, self.coverage_penalty, self.coverage_form)

    def results(self, progress, steps, return_attention):
        alive, finished, _ = progress
        # Hypotheses still live at the end are cut by max_length: score them
        # as they stand, beside the finished ones.
        still_live = alive.scores > NEGATIVE / 2
        cut = alive._replace(
            scores=alive.scores / length_penalty_of(steps, self.length_penalty)
            + self._coverage_penalty(alive.coverage)
        )
        best = _keep_best(finished, cut, still_live, self.width)
        real = best.scores > NEGATIVE / 2  # (batch, k): the rest are empty places
        scores = tf.where(real, best.scores, -float("inf"))
        ids, length = words_only(best.ids * tf.cast(real, tf.int32)[:, :, None])
        outputs = {
            "target_ids": ids[:, 0],  # (batch, T)
            "scores": scores[:, 0],
            "n_best_ids": ids[:, : self.num_results],
            "n_best_scores": scores[:, : self.num_results],
        }
        if return_attention:
            outputs["attention"] = best.attention[:, 0, :length]
        return outputs


def _keep_best(pool, candidates, admitted, k):
    """The k best `Hypotheses` of a pool and of the admitted candidates."""
    scores = tf.concat(
        [pool.scores, tf.where(admitted, candidates.scores, NEGATIVE)], axis=1
    )
    best_scores, best = tf.math.top_k(scores, k=k)
    kept = [
        tf.gather(tf.concat([old, new], 1), best, batch_dims=1)
        for old, new in zip(pool, candidates, strict=True)
    ]
    return Hypotheses(*kept)._replace(scores=best_scores)


def _number(value, kind):
    return value if tf.is_tensor(value) else kind(value)
