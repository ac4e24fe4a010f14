"""Decoding controls: what every method obeys, whatever it picks.

The search loop (`search.py`) asks the controls twice a step, before the
chooser sees the log-probabilities, and tells them the token each row wrote:

    written   = controls.start(rows, max_length)                # once
    logits    = controls.penalize(logits, written, step)        # repetition penalty
    log_probs = log_softmax(logits)
    log_probs = controls.restrict(log_probs, written, step, ...) # bans and prefix
    written   = controls.record(written, tokens, step)          # after the choice

`written` is a `Written`: the tokens so far `(rows, L)` and, for n-gram
blocking, how far the text matches each shift of itself `(rows, L)`, kept
up to date one token at a time, so that a step costs O(rows x L) time and
memory whatever n and L (never a `(rows, L, L)` tensor).

| control                | effect at step t (0-based: t tokens already written)          |
|------------------------|---------------------------------------------------------------|
| `repetition_penalty` θ | CTRL (Keskar et al., 2019): the logit l of a token already     |
|                        | written becomes l / θ if l > 0, else l * θ (1 = off)           |
| `min_length` m         | `<EOS>` is banned while t < m: every output has >= m tokens    |
| `no_repeat_ngram_size` | no n-gram occurs twice in an output (0 = off)                  |
| `target_prefix`        | at t < len(prefix) only prefix[t] is allowed (per row)         |
| `known_words`          | a piece only where it keeps the word being written a known     |
|                        | word or a word of the row's source, one that can still be      |
|                        | finished before `max_length` (`known_words.py`)                |

A ban sets a token's log-probability to `NEGATIVE` without renormalizing the
rest, so a hypothesis's score stays the model's log-probability of its
tokens (where the bans leave no token at all, `<EOS>` is allowed and ends
the output) (`decoding.score` gives the same number); the repetition penalty
changes the distribution itself (the logits, renormalized), so with it the
scores are those of the penalized model. A forced prefix token keeps its
log-probability, and it wins over every ban.

**Words or subwords.** `ngram_unit="word"` (the default) counts words, which
is what users mean by "no repeated trigram" in a summary: a word is a piece
that starts one (SentencePiece's `▁word`) and the pieces after it, and two
words are the same when their pieces are. A word n-gram is only complete
when its last word is: when the next word starts, `<EOS>` comes, or the
output reaches `max_length`. So at step t the controls ban every word start
and `<EOS>` when they would complete a repeated n-gram, and at the last step
they also ban the pieces that would end one. `ngram_unit="subword"` counts
pieces, as Hugging Face's `no_repeat_ngram_size` counts tokens.

Every setting may be a Python number or a scalar tensor: the SavedModel's
`generate` signature takes them as inputs, so one export serves any value.
A control given as a tensor is computed only where it is on (a `tf.cond`):
`no_repeat_ngram_size=0` costs nothing there either. Every op is a TFLite
builtin.
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from s2s_keras.decoding.ngrams import banned_tokens
from s2s_keras.decoding.ngrams import extend_runs
from s2s_keras.decoding.ngrams import repeated_ngram_ends
from s2s_keras.special_tokens import EOS_ID
from s2s_keras.special_tokens import PAD_ID
from s2s_keras.special_tokens import RESERVED_TOKENS
from s2s_keras.special_tokens import UNK_ID
from s2s_keras.utils.checks import check_choice
from s2s_keras.utils.checks import check_non_negative_int
from s2s_keras.utils.checks import check_positive_float

NEGATIVE = -1e9  # log-probabilities are float32 in the search
NGRAM_UNITS = ("word", "subword")
WORD_START = "▁"  # SentencePiece's mark of a piece that starts a word


def word_starts(vocabulary):
    """Which ids begin a new word: a `bool` NumPy array `(vocab,)`.

    Args:
        vocabulary: the pieces by id (`SubwordTokenizer.vocabulary()`), or a
            `SubwordTokenizer`.

    `<EOS>` and `<UNK>` count as word starts (`<EOS>` ends the last word;
    `<UNK>` is a word of its own), as do the pieces that begin with `▁`.
    """
    if hasattr(vocabulary, "vocabulary"):
        vocabulary = vocabulary.vocabulary()
    starts = np.array([piece.startswith(WORD_START) for piece in vocabulary])
    starts[: len(RESERVED_TOKENS)] = False
    starts[[EOS_ID, UNK_ID]] = True
    return starts


class Written(NamedTuple):
    """What the controls keep of the outputs so far, row by row.

    Attributes:
        tokens: int32 `(rows, L)`, the tokens written (0 from the current
            step on); `(rows, 0)` when no control reads them.
        runs: int32 `(rows, L)`: `runs[r, d - 1]` is how many of the last
            tokens equal the tokens d positions before them (the text's
            match with its d-shift, ending now); `(rows, 0)` without n-gram
            blocking.
        node: int32 `(rows,)`, where each row's last word is in the known
            words' trie (`known_words.KnownWords`); 0 without `known_words`.
        matched: bool `(rows, S)`: which source positions the last word
            matches up to; `(rows, 0)` where no source word counts.
        source_left: int32 `(rows, S)`, pieces after each source position
            in its word (fixed through the search); `(rows, 0)` likewise.
    """

    tokens: tf.Tensor
    runs: tf.Tensor
    node: tf.Tensor
    matched: tf.Tensor
    source_left: tf.Tensor


class Controls:
    """The controls of the module docstring, applied at every step.

    Args:
        min_length: int >= 0, output tokens at least (the prefix counts).
        no_repeat_ngram_size: int >= 0, the n of the n-grams that may not
            repeat; 0 turns blocking off.
        repetition_penalty: float > 0, CTRL's θ; 1 turns it off, above 1
            discourages repeats.
        ngram_unit: `"word"` or `"subword"`: what n counts.
        word_starts: bool array `(vocab,)` (`word_starts(tokenizer)`);
            needed when n-grams count words, kept for those who read it.
        known_words: a `KnownWords` (`Lexicon.known_words()`): only known
            words (or the row's source words) may be written; None: any.

    Each numeric argument may also be a scalar tensor (then it is not
    checked here, and its control is computed where it is on).
    """

    def __init__(
        self,
        min_length=0,
        no_repeat_ngram_size=0,
        repetition_penalty=1.0,
        ngram_unit="word",
        word_starts=None,
        known_words=None,
    ):
        self.min_length = _checked(min_length, check_non_negative_int, "min_length")
        self.no_repeat_ngram_size = _checked(
            no_repeat_ngram_size, check_non_negative_int, "no_repeat_ngram_size"
        )
        self.repetition_penalty = _checked(
            repetition_penalty, check_positive_float, "repetition_penalty"
        )
        self.ngram_unit = check_choice("ngram_unit", ngram_unit, NGRAM_UNITS)
        blocks_words = ngram_unit == "word" and _on(no_repeat_ngram_size, 0)
        if blocks_words and word_starts is None:
            raise ValueError(
                "no_repeat_ngram_size counts words (ngram_unit='word'), which "
                "needs the target vocabulary: pass the target tokenizer (or "
                "word_starts=...), or ngram_unit='subword' to count pieces. "
                f"Received: no_repeat_ngram_size={no_repeat_ngram_size!r}, "
                "word_starts=None"
            )
        self.word_starts = (
            None if word_starts is None else np.asarray(word_starts, bool)
        )
        self.known_words = known_words

    @property
    def needs_history(self):
        """Whether any control reads the tokens written so far."""
        return _on(self.no_repeat_ngram_size, 0) or _on(self.repetition_penalty, 1.0)

    def start(self, rows, max_length, source_ids=None):
        """The `Written` of `rows` empty outputs of `max_length` tokens at most.

        `source_ids` int32 `(rows, S)` (each row's source) is needed with
        `known_words`.
        """
        length = max_length if self.needs_history else 0
        shifts = max_length if _on(self.no_repeat_ngram_size, 0) else 0
        if self.known_words is None:
            nothing = tf.zeros([rows, 0], tf.int32)
            words = tf.zeros([rows], tf.int32), tf.cast(nothing, tf.bool), nothing
        else:
            words = self.known_words.start(source_ids)
        return Written(
            tf.zeros([rows, length], tf.int32),
            tf.zeros([rows, shifts], tf.int32),
            *words,
        )

    def record(self, written, tokens, step, source_ids=None):
        """`written` with `tokens` int32 `(rows,)` written at `step`."""
        if self.known_words is not None:
            node, matched = self.known_words.advance(
                written.node, written.matched, source_ids, tokens
            )
            written = written._replace(node=node, matched=matched)
        if not self.needs_history:
            return written
        runs = written.runs
        if _on(self.no_repeat_ngram_size, 0):
            runs = _when(
                self.no_repeat_ngram_size,
                0,
                lambda: extend_runs(written.tokens, runs, tokens, step),
                runs,
            )
        at_step = tf.one_hot(step, tf.shape(written.tokens)[1], dtype=tf.int32)
        tokens = written.tokens + tokens[:, None] * at_step[None, :]
        return written._replace(tokens=tokens, runs=runs)

    def penalize(self, logits, written, step):
        """CTRL's repetition penalty on float32 logits `(rows, vocab)`."""
        if not _on(self.repetition_penalty, 1.0):
            return logits

        def penalized():
            history = written.tokens
            produced = token_sets(
                history, _written(history, step), tf.shape(logits)[-1]
            )
            penalty = tf.cast(self.repetition_penalty, logits.dtype)
            changed = tf.where(logits > 0, logits / penalty, logits * penalty)
            return tf.where(produced, changed, logits)

        return _when(self.repetition_penalty, 1.0, penalized, logits)

    def restrict(
        self, log_probs, written, step, max_length, prefix=None, source_ids=None
    ):
        """Bans and the forced prefix, on float32 log-probabilities `(rows, vocab)`.

        Args:
            log_probs: float32 `(rows, vocab)`.
            written: the `Written` so far (`start`, then `record`).
            step: int32 scalar t.
            max_length: int or int32 scalar, output tokens at most.
            prefix: int32 `(rows, P)` forced ids, 0-padded at the end, or None.
            source_ids: int32 `(rows, S)`, each row's source (`known_words`).
        """
        vocab_size = tf.shape(log_probs)[-1]
        unrestricted = log_probs
        eos = tf.one_hot(EOS_ID, vocab_size, on_value=True, off_value=False)
        if _on(self.min_length, 0):
            too_short = step < tf.cast(self.min_length, tf.int32)
            log_probs = tf.where(tf.logical_and(too_short, eos), NEGATIVE, log_probs)
        if _on(self.no_repeat_ngram_size, 0):
            log_probs = _when(
                self.no_repeat_ngram_size,
                0,
                lambda: tf.where(
                    self.banned_ngram_ends(written, step, max_length, vocab_size),
                    NEGATIVE,
                    log_probs,
                ),
                log_probs,
            )
        if self.known_words is not None:
            steps_left = tf.cast(max_length, tf.int32) - 1 - step
            allowed = self.known_words.allowed(
                written.node,
                written.matched,
                source_ids,
                written.source_left,
                steps_left,
            )
            log_probs = tf.where(allowed, log_probs, NEGATIVE)
        if (
            _on(self.min_length, 0)
            or _on(self.no_repeat_ngram_size, 0)
            or self.known_words is not None
        ):
            # Where the bans leave no token (a tiny vocabulary), <EOS> ends it.
            nothing = tf.reduce_all(log_probs <= NEGATIVE / 2, axis=-1)
            fallback = tf.logical_and(nothing[:, None], eos[None, :])
            log_probs = tf.where(fallback, unrestricted, log_probs)
        if prefix is not None:
            log_probs = forced(log_probs, unrestricted, prefix, step)
        return log_probs

    def banned_ngram_ends(self, written, step, max_length, vocab_size):
        """bool `(rows, vocab)`: the tokens that would complete a repeated n-gram."""
        n = tf.cast(self.no_repeat_ngram_size, tf.int32)
        history = written.tokens
        if self.ngram_unit == "subword":  # every piece is a word of its own
            starts = None
            final = tf.constant(True)
        else:
            starts = tf.constant(self.word_starts)
            final = tf.equal(step, tf.cast(max_length, tf.int32) - 1)
        banned, ban_word_starts = repeated_ngram_ends(
            history, written.runs, step, n, starts, final
        )
        banned = token_sets(banned_tokens(history, step), banned, vocab_size)
        if starts is not None:
            every_start = tf.logical_and(ban_word_starts[:, None], starts[None, :])
            banned = tf.logical_or(banned, every_start)
        return tf.logical_and(banned, n > 0)


def token_sets(ids, chosen, vocab_size):
    """bool `(rows, vocab)`: which ids each row holds where `chosen` `(rows, L)`.

    A scatter, not a `(rows, L, vocab)` one-hot: a beam of 64 sources keeps
    this at `(256, vocab)`.
    """
    rows = tf.shape(ids)[0]
    row_index = tf.broadcast_to(tf.range(rows)[:, None], tf.shape(ids))
    ids = tf.where(chosen, ids, PAD_ID)  # the rest lands on <PAD>, never chosen
    indices = tf.stack([row_index, ids], axis=-1)  # (rows, L, 2)
    counts = tf.scatter_nd(
        tf.reshape(indices, [-1, 2]),
        tf.reshape(tf.cast(chosen, tf.int32), [-1]),
        tf.stack([rows, vocab_size]),
    )
    return counts > 0


def forced(log_probs, unrestricted, prefix, step):
    """Rows whose prefix reaches `step` allow only its token.

    The token keeps its log-probability from before the bans
    (`unrestricted`): a forced prefix wins over every ban, a prefix that
    repeats an n-gram or comes before `min_length` included.
    """
    if prefix.shape[1] == 0:  # no prefix, known when traced: nothing to do
        return log_probs
    prefix = tf.pad(prefix, [[0, 0], [0, 1]])  # at least one column, 0 last
    width = tf.shape(prefix)[1]
    token = tf.gather(prefix, tf.minimum(step, width - 1), axis=1)  # (rows,)
    forcing = tf.not_equal(token, PAD_ID)[:, None]  # (rows, 1)

    def force():
        vocab_size = tf.shape(log_probs)[-1]
        only = tf.one_hot(token, vocab_size, on_value=True, off_value=False)
        kept = tf.where(only, unrestricted, NEGATIVE)
        return tf.where(forcing, kept, log_probs)

    if prefix.shape[1] is not None:  # a fixed prefix (TFLite): no branch
        return force()
    # A prefix fed at run time (maybe of 0 columns): free past its end.
    return tf.cond(tf.reduce_any(forcing), force, lambda: log_probs)


def _written(history, step):
    return tf.broadcast_to(
        (tf.range(tf.shape(history)[1]) < step)[None, :], tf.shape(history)
    )


def _on(value, off):
    """Whether a control is on: a tensor always is, a number unless it is `off`."""
    return tf.is_tensor(value) or value != off


def _when(setting, off, compute, otherwise):
    """`compute()` where a control's `setting` is on (not `off`), else `otherwise`.

    A number picks at trace time; a tensor builds a `tf.cond`, so that a
    setting given as a tensor costs nothing where it is off.
    """
    if not tf.is_tensor(setting):
        return compute() if setting != off else otherwise
    return tf.cond(tf.not_equal(setting, off), compute, lambda: otherwise)


def _checked(value, check, name):
    return value if tf.is_tensor(value) else check(name, value)
