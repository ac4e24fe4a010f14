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

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from summarize import run  # noqa: E402  (summarize.py's steps, on this task)

from s2s_keras.training import flags  # noqa: E402
from s2s_keras.training import tasks  # noqa: E402

## Configuration: the corpus, metric, baseline and defaults of the task are
## in s2s_keras/training/tasks.py.

TASK = tasks.get("qa")


def main(argv=None):
    parser = flags.recipe_parser(__doc__, TASK)
    parser.add_argument(
        "--context-field",
        help="a context field of --data, read after the question (optional)",
    )
    return run(TASK, flags.parse(parser, argv))


if __name__ == "__main__":
    flags.run(main)
