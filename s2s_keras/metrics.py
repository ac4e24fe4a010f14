"""Scores of generated text against references: ROUGE, BLEU and chrF.

ROUGE-1/2/L F1 (`rouge-score`, Porter stemming) for summaries and answers;
corpus BLEU and chrF (`sacrebleu`) for translations and paraphrases. Every
score is on a 0-100 scale.
"""

import statistics

METRICS = {"rouge": ("rouge1", "rouge2", "rougeL"), "bleu": ("bleu", "chrf")}
# The one score of each metric that ranks models (a search's objective).
HEADLINE = {"rouge": "rougeL", "bleu": "bleu"}
# Score tables' titles.
TITLES = {"rouge": "ROUGE F1", "bleu": "BLEU / chrF"}


def rouge(hypotheses, references):
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F1, in percent."""
    from rouge_score import rouge_scorer

    _check_lengths(hypotheses, references)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        for name, score in scorer.score(reference, hypothesis).items():
            totals[name] += score.fmeasure
    return {name: 100.0 * total / len(references) for name, total in totals.items()}


def bleu(hypotheses, references):
    """Corpus BLEU and chrF (sacrebleu defaults), in percent."""
    import sacrebleu

    _check_lengths(hypotheses, references)
    return {
        "bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
        "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score,
    }


def score(metric, hypotheses, references):
    """`rouge` or `bleu` (which also gives chrF) by name."""
    if metric not in METRICS:
        raise ValueError(
            f"Invalid value for argument metric. Expected one of {list(METRICS)}. "
            f"Received: metric={metric!r}"
        )
    return (rouge if metric == "rouge" else bleu)(hypotheses, references)


def lead(sources, words):
    """The lead baseline: the first `words` words of each source."""
    return [" ".join(source.split()[:words]) for source in sources]


def median_words(texts):
    """The median number of words of `texts` (at least 1)."""
    return max(1, int(statistics.median(len(text.split()) for text in texts)))


def _check_lengths(hypotheses, references):
    if len(hypotheses) != len(references) or not references:
        raise ValueError(
            "Expected as many hypotheses as references, and at least one. "
            f"Received: {len(hypotheses)} hypotheses, {len(references)} references"
        )
