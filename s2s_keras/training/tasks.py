"""The registry of tasks: what each recipe trains on, scores with and beats.

A `Task` is the part of a recipe that is its own: the built-in corpus, the
metric, the baseline and the flag defaults that suit its data. The recipes,
`recipes/tune.py` and the tests look tasks up here by name:

    task = tasks.get("summarize")
    rows = task.baseline_scores(train_sample, test_pairs)  # {"lead-6": {...}}

| task         | corpus               | metric | baseline                          |
|--------------|----------------------|--------|-----------------------------------|
| `summarize`  | debian_descriptions  | ROUGE  | lead-k: the first k words         |
| `translate`  | debian_translations  | BLEU   | the source, copied                |
| `paraphrase` | bible_kjv_web        | BLEU   | the source, copied                |
| `qa`         | wordnet_definitions  | ROUGE  | the k most common answer words    |

(k is the median length of the training targets, in words.)
"""

import collections
import dataclasses
from collections.abc import Callable

from s2s_keras import metrics
from s2s_keras.special_tokens import leading_target_tag
from s2s_keras.special_tokens import without_target_tag
from s2s_keras.utils.checks import check_choice


def lead_words(train_pairs, sources):
    """The first k words of each source, k the median target length."""
    k = metrics.median_words([target for _, target in train_pairs])
    return f"lead-{k}", metrics.lead(sources, k)


def copy_source(train_pairs, sources):
    """Each source unchanged (its target tag left out): names and numbers
    often pass as they are."""
    return "copy source", [without_target_tag(source) for source in sources]


def common_words(train_pairs, sources):
    """One answer for every question: the k most common words of the answers."""
    counts = collections.Counter(
        word for _, answer in train_pairs for word in answer.split()
    )
    k = metrics.median_words([answer for _, answer in train_pairs])
    common = " ".join(word for word, _ in counts.most_common(k))
    return f"constant answer ({k} common words)", [common] * len(sources)


@dataclasses.dataclass(frozen=True)
class Task:
    """A task of the zoo.

    Args:
        name: the task's (and its recipe's) name.
        corpus: the built-in corpus used without `--data` or `--tfds`.
        metric: `"rouge"` or `"bleu"` (see `metrics.score`).
        baseline: callable `(train_pairs, test_sources) -> (name, outputs)`.
        defaults: flag defaults of the task's recipe (flag names with
            underscores), e.g. the lengths and vocabulary that suit it.
    """

    name: str
    corpus: str
    metric: str
    baseline: Callable
    defaults: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        check_choice("metric", self.metric, metrics.METRICS)

    @property
    def output(self):
        """The default export folder."""
        return f"saved_models/{self.name}"

    def baseline_scores(self, train_pairs, test_pairs):
        """`{baseline name: test scores}`.

        Args:
            train_pairs: training `(source, target)` pairs the baseline
                learns from (its k, its words): a sample will do.
            test_pairs: the `(source, target)` pairs scored.
        """
        sources = [source for source, _ in test_pairs]
        references = [target for _, target in test_pairs]
        name, outputs = self.baseline(train_pairs, sources)
        return {name: metrics.score(self.metric, outputs, references)}

    def scores_by_target_tag(self, train_pairs, test_pairs, outputs, name):
        """A multilingual run's scores per target language.

        Args:
            train_pairs: as `baseline_scores`.
            test_pairs: the scored `(source, target)` pairs, sources tagged
                (`<2de> ...`).
            outputs: the model's outputs for them, in order.
            name: the model's row name.

        Returns:
            `{tag: {baseline name: scores, name: scores}}`, tags sorted;
            empty where no source has a tag.
        """
        by_tag = {}  # tag -> the indices of its pairs, in one pass
        for index, (source, _) in enumerate(test_pairs):
            tag = leading_target_tag(source)
            if tag is not None:
                by_tag.setdefault(tag, []).append(index)
        rows = {}
        for tag, chosen in sorted(by_tag.items()):
            pairs = [test_pairs[index] for index in chosen]
            rows[tag] = self.baseline_scores(train_pairs, pairs)
            rows[tag][name] = metrics.score(
                self.metric,
                [outputs[index] for index in chosen],
                [target for _, target in pairs],
            )
        return rows


TASKS = {
    task.name: task
    for task in [
        Task(
            "summarize",
            corpus="debian_descriptions",
            metric="rouge",
            baseline=lead_words,
            defaults={
                "max_source_length": 96,  # subwords of description read (median ~70)
                "max_target_length": 24,  # subwords of synopsis written (median ~10)
                "vocab_size": 4000,  # copying brings rare words: a small softmax
                "embedding_dim": 128,
                "units": 256,
                "copy": True,  # ROUGE-1 40.3 against 22.6 without (docs/results.md, v1 splits)
                "coverage": True,  # 41.2 against 40.3 without: within noise
                # Tied output layer and an average of the weights: validation
                # cross-entropy 2.940 against 3.064, ROUGE-1 +0.8 at equal steps,
                # a smaller model (docs/results.md, "Training levers").
                "tie_embeddings": True,
                "ema_momentum": 0.995,
                "epochs": 10,
                "time_budget": 20.0,  # minutes of training: the run stays under 30
                # Decoding, chosen on 500 validation pairs of this model by
                # recipes/tune_decoding.py (docs/results.md): beam 4, length
                # penalty 1; n-gram blocking and the coverage penalty add nothing.
                "method": "beam",
                "length_penalty": 1.0,
                # No made-up words: 5.4% -> 0.0% of test outputs, at a cost
                # within the validation noise (docs/generation.md).
                "known_words_only": True,
            },
        ),
        Task(
            "translate",
            corpus="debian_translations",
            metric="bleu",
            baseline=copy_source,
            defaults={
                "max_source_length": 64,
                "max_target_length": 64,
                "vocab_size": 8000,
                "time_budget": 20.0,
                # Decoding, chosen on 500 validation pairs (tune_decoding.py).
                "method": "beam",
                "length_penalty": 1.5,
                "no_repeat_ngram_size": 2,
                "coverage_penalty": 0.1,  # GNMT's form: cover the source
            },
        ),
        Task(
            "paraphrase",
            corpus="bible_kjv_web",
            metric="bleu",
            baseline=copy_source,
            defaults={
                "max_source_length": 64,
                "max_target_length": 64,
                "vocab_size": 4000,  # copying brings the rare names
                "copy": True,  # most words of a verse stay: the decoder may copy
                "time_budget": 20.0,
                # Decoding, chosen on 500 validation pairs (tune_decoding.py):
                # n-gram blocking costs up to 4 BLEU here (verses repeat "of the").
                "method": "beam",
                "length_penalty": 1.0,
            },
        ),
        Task(
            "qa",
            corpus="wordnet_definitions",
            metric="rouge",
            baseline=common_words,
            defaults={
                "max_source_length": 64,
                "max_target_length": 32,
                "vocab_size": 4000,  # copying brings the rare words
                "copy": True,  # the asked word, or its stem, is often in the answer
                "time_budget": 20.0,
                # Decoding, chosen on 500 validation pairs (tune_decoding.py):
                # greedy (beam search scores lower at every length penalty).
                "no_repeat_ngram_size": 2,
                "repetition_penalty": 1.2,
            },
        ),
    ]
}


def get(name):
    """The `Task` called `name`.

    Raises:
        ValueError: no such task.
    """
    if name not in TASKS:
        raise ValueError(
            f"Unknown task. Expected one of {sorted(TASKS)}. Received: task={name!r}"
        )
    return TASKS[name]
