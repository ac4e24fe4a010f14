"""Choosing the decoding settings of a trained model on validation pairs.

A coordinate search: one setting at a time, in the order of `CANDIDATES`,
each of its values is tried with the others held at the best found so far,
and the best is kept, if it beats the best so far by `min_gain` points (so
a control that helps by less than the noise of the validation score stays
as it was: off). Scored by the task's headline metric (`metrics.HEADLINE`:
ROUGE-L for summaries and answers, BLEU for translations and paraphrases)
on validation pairs: the test pairs stay for the final score.

    best, trials = search_generation(model, tokenizer, validation_pairs, "rouge")

About 20 evaluations of the pairs; every setting tried is scored once.

`known_words_only` (where the model has a lexicon) is tried last and kept
unless it costs more than `min_gain`: it is there to stop made-up words, not
to win points, so it stays on where it costs nothing.
"""

import dataclasses
import time

from s2s_keras import metrics
from s2s_keras.training.config import GenerationConfig
from s2s_keras.training.evaluation import generate_texts
from s2s_keras.utils.console import log

# Setting (or settings searched together) -> values tried, in the order
# searched. The method with beam search's length penalty (beam search with
# one length penalty may lose to greedy where another would win); the
# coverage penalty only once beam search is chosen.
CANDIDATES = {
    ("method", "length_penalty"): [
        ("greedy", 0.6),
        ("beam", 0.6),
        ("beam", 0.0),
        ("beam", 1.0),
        ("beam", 1.5),
        ("beam", 2.0),
    ],
    "no_repeat_ngram_size": [0, 2, 3, 4],
    "min_length": [0, 2, 4, 6, 8],
    ("coverage_form", "coverage_penalty"): [
        ("gnmt", 0.0),
        ("gnmt", 0.1),
        ("gnmt", 0.3),
        ("summary", 0.5),
        ("summary", 2.0),
        ("summary", 5.0),
    ],
    "repetition_penalty": [1.0, 1.2, 1.5],
    "known_words_only": [True],
}
BEAM_ONLY = {"coverage_penalty", "coverage_form"}
KEPT_UNLESS_IT_COSTS = {"known_words_only"}


@dataclasses.dataclass
class Trial:
    """One setting tried: its `GenerationConfig`, scores and seconds per pair."""

    generation: GenerationConfig
    scores: dict
    seconds_per_pair: float


def search_generation(
    model,
    tokenizer,
    pairs,
    metric,
    start=None,
    candidates=None,
    max_source_length=96,
    has_attention=True,
    min_gain=0.1,
    lexicon=None,
):
    """Finds the decoding settings that score best on `pairs`.

    Args:
        model: a trained model from `build_seq2seq`.
        tokenizer: its `SubwordTokenizer`.
        pairs: validation `(source, target)` pairs.
        metric: `"rouge"` or `"bleu"`.
        start: the `GenerationConfig` to start from (its `max_length`
            stays); defaults to `GenerationConfig()`.
        candidates: setting -> values, in the order searched (a tuple of
            settings -> tuples of values, searched together); defaults to
            `CANDIDATES`.
        max_source_length: int, source subwords kept.
        has_attention: bool; without attention the coverage penalty is
            not tried.
        min_gain: float, points of the headline score a change must add
            to be kept (or, for `known_words_only`, may cost at most).
        lexicon: the model's `Lexicon`; without one, `known_words_only` is
            not tried.

    Returns:
        `(best GenerationConfig, trials)`, the trials in the order run.
    """
    candidates = {
        _names(setting): values
        for setting, values in (
            CANDIDATES if candidates is None else candidates
        ).items()
        if (has_attention or "coverage_penalty" not in _names(setting))
        and (lexicon is not None or "known_words_only" not in _names(setting))
    }
    headline = metrics.HEADLINE[metric]
    sources = [source for source, _ in pairs]
    references = [target for _, target in pairs]
    trials = {}

    def trial(generation):
        if generation not in trials:
            began = time.perf_counter()
            outputs = generate_texts(
                model,
                tokenizer,
                sources,
                generation,
                max_source_length,
                lexicon=lexicon,
            )
            seconds = (time.perf_counter() - began) / len(sources)
            scores = metrics.score(metric, outputs, references)
            trials[generation] = Trial(generation, scores, seconds)
            log(f"  {describe(generation)}: {headline} {scores[headline]:.2f}")
        return trials[generation].scores[headline]

    best = start or GenerationConfig()
    best_score = trial(best)
    for names, values in candidates.items():
        if BEAM_ONLY.issuperset(names) and best.method != "beam":
            continue
        for value in values:
            value = value if len(names) > 1 else (value,)
            tried = dataclasses.replace(best, **dict(zip(names, value, strict=True)))
            score = trial(tried)
            gain = -min_gain if KEPT_UNLESS_IT_COSTS.issuperset(names) else min_gain
            if score >= best_score + gain:
                best, best_score = tried, score
    return best, list(trials.values())


def _names(setting):
    return setting if isinstance(setting, tuple) else (setting,)


def describe(generation):
    """A `GenerationConfig` in a few words: "beam 4, lp 0.6, no repeated word 3-gram"."""
    parts = [generation.method]
    if generation.method == "beam":
        parts = [f"beam {generation.beam_width}, lp {generation.length_penalty:g}"]
        if generation.coverage_penalty:
            form = generation.coverage_form
            parts.append(f"cp {generation.coverage_penalty:g} ({form})")
    if generation.no_repeat_ngram_size:
        unit = generation.ngram_unit
        parts.append(f"no repeated {unit} {generation.no_repeat_ngram_size}-gram")
    if generation.min_length:
        parts.append(f"min {generation.min_length}")
    if generation.repetition_penalty != 1.0:
        parts.append(f"rp {generation.repetition_penalty:g}")
    if generation.known_words_only:
        parts.append("known words only")
    return ", ".join(parts)


def as_flags(generation):
    """The recipe flags that give `generation` (those not at their default)."""
    default = GenerationConfig()
    flags = []
    for field in dataclasses.fields(GenerationConfig):
        value = getattr(generation, field.name)
        if field.name == "max_length" or value == getattr(default, field.name):
            continue
        flag = field.name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(f"--{flag}" if value else f"--no-{flag}")
        else:
            flags += [f"--{flag}", str(value)]
    return flags
