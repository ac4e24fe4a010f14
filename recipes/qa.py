"""Question answering: answer "What is <word>?" with a definition.

With no arguments it asks WordNet (Debian's wordnet-base package, fetched
with apt-get download and unpacked into the cache) for every lemma's
definition, trains an LSTM encoder-decoder with Luong attention that can copy
words of the question (a pointer-generator) to write the definition, scores it
with ROUGE against answering every question with the most common words of the
training answers, and exports it.

Your own data: a JSONL of question / context / answer, the model reading
"question <context> context" and writing the answer.

    python recipes/qa.py
    python recipes/qa.py --data squad_like.jsonl --source-field question --target-field answer --context-field context
    python recipes/qa.py --model saved_models/qa --predict "What is a compiler?"
"""

import collections
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s2s_keras import metrics  # noqa: E402
from s2s_keras import recipe  # noqa: E402
from s2s_keras.data import read_columns  # noqa: E402

## Configuration

DEFAULTS = {
    "corpus": "wordnet_definitions",
    "output": "saved_models/qa",
    "max_source_length": 64,
    "max_target_length": 32,
    "vocab_size": 4000,  # copying brings the rare words: a small softmax is enough
    "copy": True,  # the asked word, or its stem, is often in the definition
    "time_budget": 20.0,
    "extra_flags": {
        "context-field": {
            "help": "a context field of --data, read after the question (optional)"
        }
    },
}
METRIC = "rouge"


def with_context(args):
    """--data with a context field: the source is "question <context> context".

    The file is read once; the split is hashed from the context, so every
    question about one passage lands in the same split.
    """
    questions, contexts, answers = read_columns(
        args.data, (args.source_field, args.context_field, args.target_field)
    )
    sources = [f"{q} <context> {c}" for q, c in zip(questions, contexts, strict=True)]
    return sources, answers, contexts


def main(argv=None):
    args = recipe.parse_args(argv, __doc__, DEFAULTS)
    if args.predict is not None:
        return recipe.predict(args)
    recipe.seed_everything(args.seed)

    ## Data
    pairs = recipe.load_splits(
        args, combine=with_context if args.context_field else None
    )
    tokenizer = recipe.tokenizer_for(args, pairs["train"])

    ## Baseline: the same answer for every question, the most common words
    counts = collections.Counter(
        w for _, answer in pairs["train"] for w in answer.split()
    )
    k = metrics.median_words([answer for _, answer in pairs["train"]])
    common = " ".join(word for word, _ in counts.most_common(k))
    sources, references = zip(*pairs["test"], strict=True)
    rows = {
        f"constant answer ({k} common words)": metrics.score(
            METRIC, [common] * len(sources), list(references)
        )
    }

    ## Model: train, generate, score
    model_rows, trained = recipe.train_and_score(args, tokenizer, pairs, METRIC)
    rows.update(model_rows)

    ## Show and export
    return recipe.finish("qa", args, tokenizer, pairs, rows, trained, METRIC)


if __name__ == "__main__":
    recipe.run(main)
