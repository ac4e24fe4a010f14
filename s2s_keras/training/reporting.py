"""A run's results: the printed table, plots, `metrics.json`, a model card, the export.

summary = write_results("summarize", config, tokenizer, splits.sizes,
                        test_pairs, rows, trained, outputs, metric="rouge")
"""

import json

import keras

from s2s_keras.export import write_export
from s2s_keras.metrics import TITLES
from s2s_keras.training.evaluation import attention_examples
from s2s_keras.training.generation_search import describe
from s2s_keras.training.runner import exported
from s2s_keras.utils import plotting
from s2s_keras.utils.console import log


def print_table(title, rows):
    """Prints `rows` (name -> scores dict) as a Markdown table; returns it."""
    names = list(next(iter(rows.values())))
    lines = [
        f"| {title} | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for system, scores in rows.items():
        values = " | ".join(f"{scores[name]:.1f}" for name in names)
        lines.append(f"| {system} | {values} |")
    table = "\n".join(lines)
    log("\n" + table + "\n")
    return table


def print_examples(test_pairs, outputs, count=5):
    """Prints the first `count` sources, references and outputs; returns them."""
    examples = []
    for (source, reference), output in list(zip(test_pairs, outputs, strict=True))[
        :count
    ]:
        log(f"SOURCE:    {source[:300]}\nREFERENCE: {reference}\nOUTPUT:    {output}\n")
        examples.append({"source": source, "reference": reference, "output": output})
    return examples


def model_card(task, config, table, minutes, sizes):
    """The export's README.md: data, size, scores, how to load it."""
    data, model, training = config.data, config.model, config.training
    split_sizes = ", ".join(
        f"{split} {'(unknown)' if size is None else size}"
        for split, size in sizes.items()
    )
    return f"""# s2s_keras {task} model

Trained by `recipes/{task}.py` ({"--quick smoke run" if data.quick else "full run"}).

- Data: {data.name}; pairs: {split_sizes}.
- Model: LSTM encoder-decoder, attention {model.attention or "none"}, {model.layers} layer(s) of {model.units} units,
  embeddings {model.embedding_dim}, subword vocabulary {data.vocab_size}{", bidirectional encoder" if model.bidirectional else ""}.
- Training: {minutes:.1f} minutes in {keras.mixed_precision.global_policy().name}, batch {training.batch_size}, Adam {training.learning_rate:g}{f" ({training.lr_schedule} after {training.warmup_steps} warm-up steps)" if training.scheduled else ""}{f" (x{training.lr_decay:g} after an epoch without progress)" if training.lr_decay else ""}{f", label smoothing {training.label_smoothing:g}" if training.label_smoothing else ""}{f", weights averaged (EMA {training.ema_momentum:g})" if training.ema_momentum else ""}, seed {training.seed}.
- Generation: {describe(config.generation)}, at most {config.generation.max_length} subwords (all the settings: `export.json`).

## Scores on the test split ({sizes["test"]} pairs)

{table}

## Use it

```python
import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops the SavedModel uses

model = tf.saved_model.load("saved_model")
print(model.signatures["serving_default"](text=tf.constant(["your text"]))["text"])
```

Or: `python recipes/{task}.py --model {config.output} --predict "your text"`.
`model.tflite` takes token ids (see `tokenizer/`), 0-padded to
`(1, {data.max_source_length})`, and decodes greedily;
`model.keras` reloads with `keras.saving.load_model` (after `import s2s_keras`)
for fine-tuning.
"""


def write_results(
    task,
    config,
    tokenizer,
    sizes,
    test_pairs,
    rows,
    trained,
    outputs,
    metric,
    lexicon=None,
    by_target=None,
):
    """Table, examples, plots, metrics.json, model card and the export.

    Args:
        task: the task's name (`"summarize"`).
        config: the run's `RunConfig`.
        tokenizer: the `SubwordTokenizer`.
        sizes: dict split -> pairs used (None where not known).
        test_pairs: the scored `(source, target)` pairs.
        rows: dict system name -> test scores (baseline and models).
        trained: the main model's `TrainedModel`.
        outputs: its outputs for the test pairs, in order.
        metric: `"rouge"` or `"bleu"`.
        lexicon: the training text's `Lexicon` (exported beside), or None.
        by_target: a multilingual run's scores per target tag,
            `{tag: {system: scores}}` (`Task.scores_by_target_tag`), or None.

    Returns:
        The summary written to `metrics.json`, as a dict.
    """
    output = config.output
    table = print_table(TITLES[metric], rows)
    if by_target:  # one table: each language's rows, its tag first
        table += "\n\nBy target language:\n\n" + print_table(
            TITLES[metric],
            {
                f"`{tag}` {system}": scores
                for tag, systems in by_target.items()
                for system, scores in systems.items()
            },
        )
    examples = print_examples(test_pairs, outputs)
    output.mkdir(parents=True, exist_ok=True)
    plotting.plot_training_curves(trained.history, output / "training_curves.png")
    if config.model.attention:
        sources = [source for source, _ in test_pairs[:3]]
        examples_of_attention = attention_examples(
            trained.model,
            tokenizer,
            sources,
            config.generation,
            config.data.max_source_length,
            lexicon,
        )
        plotting.plot_attention(examples_of_attention, output / "attention.png")
    summary = {
        "task": task,
        "scores": rows,
        **({"scores_by_target": by_target} if by_target else {}),
        "metric": metric,
        "training_minutes": round(trained.minutes, 2),
        "epochs": len(trained.history.get("loss", [])),
        # What --precision chose (the Runner set it); scores are float32's.
        "precision": keras.mixed_precision.global_policy().name,
        "backend": trained.backend,  # of training; scores and export are TensorFlow's
        "pairs": dict(sizes),
        "config": config.flags,
        "examples": examples,
    }
    metrics_text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    log(f"Exporting to {output} ...")
    write_export(
        output,
        trained.model,
        tokenizer,
        max_source_length=config.data.max_source_length,
        quantization=config.quantization,
        extra_files={
            "metrics.json": metrics_text,
            "README.md": model_card(task, config, table, trained.minutes, sizes),
        },
        target_prefix=config.generation.target_prefix,
        lexicon=lexicon,
        **config.generation.settings(),
    )
    exported(output)
    log(
        f"Done: {output}/ holds saved_model/, model.tflite, model.keras, "
        "tokenizer/, metrics.json, README.md and plots."
    )
    return summary
