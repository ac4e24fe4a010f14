"""Decoding controls on the default summarizer: repeats, ROUGE and time per sentence.

Reads an export of `recipes/summarize.py` (its model and tokenizer) and
decodes the 1,000 test pairs the recipe scores, with:

- greedy decoding;
- beam search alone (width 4, length penalty 0.6);
- beam search with the controls OpenNMT-py's summarization recipe uses:
  no repeated word trigram, a coverage penalty (its summary form) and a
  minimum length;
- the summarizer's default decoding (chosen on the validation split by
  `recipes/tune_decoding.py`, in `s2s_keras/training/tasks.py`).

For each: the share of outputs that repeat a word bigram and a word trigram
(words split on whitespace, as a reader sees them), ROUGE-1/2/L F1 and the
milliseconds per sentence (batches of 64, after a warm-up batch).

    python bench/decoding_controls.py --model saved_models/summarize
"""

import dataclasses
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from summarizer_test_pairs import TASK  # noqa: E402
from summarizer_test_pairs import parse_args  # noqa: E402
from summarizer_test_pairs import test_pairs  # noqa: E402

from s2s_keras import metrics  # noqa: E402
from s2s_keras.export import read_export  # noqa: E402
from s2s_keras.training.config import GenerationConfig  # noqa: E402
from s2s_keras.training.evaluation import generate_texts  # noqa: E402


def repeats(text, n):
    """Whether a word n-gram occurs twice in `text`."""
    words = text.split()
    grams = list(zip(*[words[i:] for i in range(n)], strict=False))
    return len(set(grams)) < len(grams)


def settings_compared(task):
    defaults = {
        name: value
        for name, value in task.defaults.items()
        if name in {field.name for field in dataclasses.fields(GenerationConfig)}
    }
    max_length = task.defaults["max_target_length"]
    beam = GenerationConfig(method="beam", beam_width=4, length_penalty=0.6)
    return {
        "greedy": GenerationConfig(),
        "beam 4": beam,
        "beam 4 + trigram blocking, coverage, min length": dataclasses.replace(
            beam,
            no_repeat_ngram_size=3,
            coverage_form="summary",
            coverage_penalty=0.5,
            min_length=4,
        ),
        "the default (chosen on validation)": GenerationConfig(**defaults),
    }, max_length


def main(argv=None):
    args = parse_args(__doc__, argv)
    task = TASK  # the summarizer
    export = read_export(args.model)
    model, tokenizer = export["model"], export["tokenizer"]
    max_source_length = export["settings"]["max_source_length"]
    sources, references = test_pairs(args.eval_pairs)
    compared, max_length = settings_compared(task)
    print(f"\n{len(sources)} test pairs of {task.corpus}, model {args.model}\n")
    print(
        "| decoding | repeated bigram | repeated trigram | ROUGE-1 | ROUGE-2 "
        "| ROUGE-L | ms / sentence |\n|---|---|---|---|---|---|---|"
    )
    for name, generation in compared.items():
        generation = dataclasses.replace(generation, max_length=max_length)
        generate_texts(model, tokenizer, sources[:64], generation, max_source_length)
        began = time.perf_counter()
        outputs = generate_texts(
            model, tokenizer, sources, generation, max_source_length
        )
        milliseconds = 1000 * (time.perf_counter() - began) / len(sources)
        scores = metrics.score("rouge", outputs, references)
        bigrams = 100 * sum(repeats(text, 2) for text in outputs) / len(outputs)
        trigrams = 100 * sum(repeats(text, 3) for text in outputs) / len(outputs)
        print(
            f"| {name} | {bigrams:.1f}% | {trigrams:.1f}% | {scores['rouge1']:.1f} "
            f"| {scores['rouge2']:.1f} | {scores['rougeL']:.1f} | {milliseconds:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
