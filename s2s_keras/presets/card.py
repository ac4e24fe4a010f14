"""A preset's model card (its README.md), written from its metadata."""

from s2s_keras.training.config import GenerationConfig
from s2s_keras.training.generation_search import describe


def model_card(metadata):
    """The preset's README.md, from its metadata."""
    name, scores = metadata["name"], metadata["scores"]
    columns = sorted(scores["preset"])
    rows = [(f"**{name}** (this preset)", scores["preset"])]
    rows += [
        (f"{model} (baseline)", values) for model, values in scores["baselines"].items()
    ]
    rows += list(scores.get("compared", {}).items())
    rows += [
        (f"{model}, float32, the run's own decoding", values)
        for model, values in scores["trained_model_float32"].items()
    ]
    table = "\n".join(
        [
            "| model | " + " | ".join(columns) + " |",
            "|---" * (len(columns) + 1) + "|",
            *(
                f"| {label} | "
                + " | ".join(f"{values.get(c, float('nan')):.1f}" for c in columns)
                + " |"
                for label, values in rows
            ),
        ]
    )
    table += _by_target_table(
        name, scores.get("by_target"), scores.get("by_target_pairs", {})
    )
    # A multilingual preset's texts start with a target tag.
    text = (
        f"{next(iter(scores['by_target']))} ..." if scores.get("by_target") else "..."
    )
    data, training = metadata["data"], metadata["training"]
    pairs = ", ".join(
        f"{split} {count}" for split, count in (data.get("pairs") or {}).items()
    )
    examples = "\n\n".join(
        f"- **source:** {_short(example['source'])}\n  **reference:** {example['reference']}\n"
        f"  **output:** {example['output']}"
        for example in metadata["examples"]
    )
    limits = "\n".join(f"- {limit}" for limit in metadata["limits"])
    packages = ", ".join(
        f"{package} {version}" for package, version in metadata["packages"].items()
    )
    return f"""# {name}

An s2s_keras preset that {metadata["description"]}: an LSTM encoder-decoder with
Luong attention, {metadata["parameters"]:,} parameters, stored in {metadata["weights"]}
({metadata["size_megabytes"]} MB).

```python
from s2s_keras import presets

model = presets.load("{name}")
model(["{text}"])  # decoded as below
model.generate(["{text}"], method="greedy")  # other decoding settings
model.export("exports/{name}")  # SavedModel, TFLite, .keras
```

`python -m s2s_keras.presets export {name} DIR` writes the export for programs that only
load the SavedModel; `python -m s2s_keras.serve {name}` serves it over HTTP.

## Scores on the test split ({scores["test_pairs"]} pairs)

{table}

The first row is this preset's stored weights with its decoding (below), reproduced by
`tests/presets/test_shipped.py`; the last is the run's float32 model with the decoding the
run scored with.

## Data

{data.get("source")}. License: {data.get("license", "see the data's source")}. Pairs: {pairs}
(`{data.get("corpus")}`, split by group so no text is in two splits; see
`s2s_keras/data/`).

{_provenance_section(metadata)}

## Training

    {training["command"]}

{training["minutes"]} minutes of training, {training["epochs"]} epochs, {training["precision"]},
on {training["machine"]}; made on {metadata["date"]} with {packages}.

## Decoding

{describe(GenerationConfig(**metadata["generation"]))}, at most {metadata["generation"]["max_length"]} subwords,
chosen on validation pairs with `recipes/tune_decoding.py` (the test pairs were not read).

## Limits

{limits}

## Examples (the first test pairs)

{examples}
"""


def _by_target_table(name, by_target, pairs):
    """A multilingual preset's scores and pairs, a row per target language ("" if none)."""
    if not by_target:
        return ""
    systems = list(next(iter(by_target.values())))
    columns = sorted(by_target[next(iter(by_target))][systems[0]])
    header = [f"{system}: {column}" for system in systems for column in columns]
    lines = [
        "",
        "",
        f"Each target language's pairs, its tag first in the source (`{name}` is "
        "this preset, as in the first row above):",
        "",
        "| target | pairs | " + " | ".join(header) + " |",
        "|---" * (len(header) + 2) + "|",
    ]
    for tag, rows in by_target.items():
        values = [rows[system][column] for system in systems for column in columns]
        lines.append(
            f"| `{tag}` | {pairs.get(tag, '')} | "
            + " | ".join(f"{value:.1f}" for value in values)
            + " |"
        )
    return "\n".join(lines)


def _short(text, limit=300):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _provenance_section(metadata):
    """Where the data came from, and the frozen test pairs, in words."""
    lines = []
    data, frozen = metadata["data"], metadata.get("frozen_test")
    if data.get("provenance"):
        lines += _described("The corpus was prepared", data["provenance"])
    if frozen:
        scores = ", ".join(
            f"{metric} {value:.1f}" for metric, value in frozen["scores"].items()
        )
        lines += [
            "",
            "## Frozen test pairs",
            "",
            f"The scores above were taken on the test split of {metadata['date']}. "
            f"The {frozen['pairs']} test pairs of {frozen['prepared']} are stored with "
            f"the preset (`{frozen['file']}`, sha256 `{frozen['sha256']}`); on them "
            f"the stored weights score {scores}. `python -m s2s_keras.presets "
            f"evaluate {metadata['name']}` scores them again (within 0.2).",
        ]
        if frozen.get("provenance") and frozen["provenance"] != data.get("provenance"):
            lines += [
                "",
                *_described(
                    "They were drawn from the corpus prepared", frozen["provenance"]
                ),
            ]
    return "\n".join(lines).strip()


def _described(opening, provenance):
    sizes = ", ".join(
        f"{split} {count:,}" for split, count in provenance["split_sizes"].items()
    )
    return [
        f"{opening} on {provenance['prepared']} (corpus format version "
        f"{provenance['format_version']}, split rule version "
        f"{provenance['split_rule_version']}), split sizes {sizes}, from:",
        "",
        "| source | sha256 or version |",
        "|---|---|",
        *(f"| `{name}` | `{value}` |" for name, value in provenance["sources"].items()),
    ]
