"""Generated text scored against references, and what a plot of attention needs;
the lexicon of a run's training text, for the known-words control.

outputs = generate_texts(model, tokenizer, sources, GenerationConfig())
scores = metrics.score("rouge", outputs, references)
"""

import keras
import numpy as np
import tensorflow as tf

from s2s_keras import metrics
from s2s_keras.decoding import Lexicon
from s2s_keras.decoding import generator_for
from s2s_keras.special_tokens import PAD_ID
from s2s_keras.special_tokens import check_target_tags
from s2s_keras.utils.console import log
from s2s_keras.utils.memory import release_freed_memory

# Source subwords shown in an attention plot, at most.
PLOTTED_SOURCE_LENGTH = 40


def generate_texts(
    model,
    tokenizer,
    sources,
    generation,
    max_source_length=96,
    batch_size=64,
    lexicon=None,
):
    """Generated text for every source, in order.

    Args:
        model: a model from `build_seq2seq`.
        tokenizer: its `SubwordTokenizer`.
        sources: list of strings.
        generation: a `GenerationConfig`.
        max_source_length: int, source subwords kept.
        batch_size: int, sources per search.
        lexicon: the model's `Lexicon`, for `generation.known_words_only`.
    """
    check_target_tags(sources, tokenizer.target_tags)
    generator = generator_for(
        model, **generation.settings(), tokenizer=tokenizer, lexicon=lexicon
    )
    prefix = prefix_ids(tokenizer, generation)
    outputs = []
    for start in range(0, len(sources), batch_size):
        chunk = sources[start : start + batch_size]
        ids = tokenizer.tokenize(chunk)[:, :max_source_length]
        ids = ids.to_tensor(default_value=PAD_ID)  # (batch, S)
        if ids.shape[1] == 0:  # every source empty: one masked column
            ids = tf.zeros([len(chunk), 1], tf.int32)
        generated = generator(ids, _for_rows(prefix, len(chunk)))
        texts = tokenizer.detokenize(generated["target_ids"]).numpy()
        outputs += [text.decode("utf-8") for text in texts]
    return outputs


def prefix_ids(tokenizer, generation):
    """The `GenerationConfig`'s prefix text as ids `(1, P)`, or None."""
    if not generation.target_prefix:
        return None
    return tokenizer.tokenize([generation.target_prefix]).to_tensor()


def _for_rows(prefix, batch_size):
    """The prefix `(1, P)` for each of `batch_size` rows, or None."""
    return None if prefix is None else tf.tile(prefix, [batch_size, 1])


def evaluate(
    model, tokenizer, pairs, generation, metric, max_source_length=96, lexicon=None
):
    """Scores the model's outputs for `pairs`; returns `(scores, outputs)`."""
    sources = [source for source, _ in pairs]
    references = [target for _, target in pairs]
    log(f"Generating for {len(sources)} test pairs ({generation.method}) ...")
    outputs = generate_texts(
        model, tokenizer, sources, generation, max_source_length, lexicon=lexicon
    )
    return metrics.score(metric, outputs, references), outputs


def attention_examples(
    model, tokenizer, sources, generation, max_source_length=96, lexicon=None
):
    """Source pieces, output pieces and weights for a few sources (for plots)."""
    generator = generator_for(
        model,
        **generation.settings(),
        tokenizer=tokenizer,
        lexicon=lexicon,
        return_attention=True,
    )
    length_kept = min(max_source_length, PLOTTED_SOURCE_LENGTH)
    prefix = prefix_ids(tokenizer, generation)
    examples = []
    for source in sources:
        ids = tokenizer.tokenize([source])[:, :length_kept].to_tensor()
        outputs = generator(ids, prefix)
        target_ids = outputs["target_ids"].numpy()[0]
        length = int((target_ids != PAD_ID).sum())
        weights = outputs["attention"].numpy()[0, :length]  # (T, S)
        output_tokens = tokenizer.id_to_token(target_ids[:length]).numpy()
        if not length:  # an empty output: one blank row
            weights, output_tokens = np.zeros((1, ids.shape[1])), [b"(empty)"]
        examples.append(
            {
                "source_tokens": [
                    p.decode("utf-8") for p in tokenizer.id_to_token(ids[0]).numpy()
                ],
                "output_tokens": [p.decode("utf-8") for p in output_tokens],
                "weights": weights,
            }
        )
    return examples


class ValidationScore(keras.callbacks.Callback):
    """Adds `val_<metric>` scores (ROUGE or BLEU) to the logs at each epoch end.

    For searches whose objective is the task's own score, not the loss.

    Args:
        tokenizer: the `SubwordTokenizer`.
        pairs: validation `(source, target)` pairs to score.
        generation: a `GenerationConfig`.
        metric: `"rouge"` or `"bleu"`.
        max_source_length: int, source subwords kept.
        lexicon: the training text's `Lexicon`, for
            `generation.known_words_only`; None where that is off.
    """

    def __init__(
        self, tokenizer, pairs, generation, metric, max_source_length=96, lexicon=None
    ):
        super().__init__()
        self.tokenizer = tokenizer
        self.pairs = pairs
        self.generation = generation
        self.metric = metric
        self.max_source_length = max_source_length
        self.lexicon = lexicon

    def on_epoch_end(self, epoch, logs=None):
        scores, _ = evaluate(
            self.model,
            self.tokenizer,
            self.pairs,
            self.generation,
            self.metric,
            self.max_source_length,
            self.lexicon,
        )
        for name, value in scores.items():
            logs[f"val_{name}"] = value


def lexicon_for(folder, splits, tokenizer):
    """The lexicon saved in `folder`, or a new one of the train split's words.

    The words of every training source and target, as `tokenizer` cuts
    them (`decoding.Lexicon`), for the `known_words_only` control; kept in
    `folder` so that a resumed run reuses it.

    Args:
        folder: where the lexicon is (or will be) saved (`lexicon.npz`).
        splits: the run's `Splits`.
        tokenizer: its `SubwordTokenizer`, shared by sources and targets.
    """
    lexicon = Lexicon.load(folder)
    if lexicon is not None:
        log(f"Using the lexicon in {folder}")
        return lexicon
    log("Collecting the training text's words (for --known-words-only) ...")
    lexicon = Lexicon.from_texts(tokenizer, splits.texts("train"))
    log(f"{len(lexicon):,} words")
    folder.mkdir(parents=True, exist_ok=True)
    lexicon.save(folder)
    release_freed_memory()  # the trie's construction freed ~0.15 GB, kept by malloc
    return lexicon
