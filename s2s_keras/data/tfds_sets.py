"""Pairs from TensorFlow Datasets (`tensorflow_datasets`), by name.

The sets s2s_keras knows the fields of:

| name                          | source field | target field |
|-------------------------------|--------------|--------------|
| `cnn_dailymail`               | `article`    | `highlights` |
| `gigaword`                    | `document`   | `summary`    |
| `xsum`                        | `document`   | `summary`    |
| `ted_hrlr_translate/X_to_Y`   | `X`          | `Y`          |

Any other TFDS set works with its field names given. TFDS downloads and
prepares a set on first use (into `~/tensorflow_datasets`, or `data_dir`).
"""

import tensorflow as tf

KNOWN_FIELDS = {
    "cnn_dailymail": ("article", "highlights"),
    "gigaword": ("document", "summary"),
    "xsum": ("document", "summary"),
}


def tfds_fields(name):
    """The (source, target) fields of a known TFDS set, or None."""
    base = name.split(":")[0]
    if base in KNOWN_FIELDS:
        return KNOWN_FIELDS[base]
    if base.startswith("ted_hrlr_translate/") and "_to_" in base:
        source, target = base.split("/")[1].split("_to_")
        return source, target
    return None


def load_tfds(
    name,
    split="train",
    source_field=None,
    target_field=None,
    data_dir=None,
    workers=1,
    index=0,
):
    """A TFDS split as a stream of `(source, target)` strings.

    Args:
        name: a TFDS name, e.g. `"cnn_dailymail"` or `"gigaword:1.2.0"`.
        split: `"train"`, `"validation"` or `"test"` (any TFDS split string).
        source_field: the source feature; defaults to the known one.
        target_field: the target feature; defaults to the known one.
        data_dir: TFDS data folder; defaults to TFDS's own.
        workers: int, machines reading the split together: each reads its
            own files of the set (TFDS's `input_context`; TFDS says so when
            the set has fewer files than workers).
        index: int, this machine's place among them.

    Returns:
        A `tf.data.Dataset` of pairs of scalar `tf.string` tensors.
    """
    import tensorflow_datasets as tfds

    known = tfds_fields(name)
    if source_field is None or target_field is None:
        if known is None:
            raise ValueError(
                f"s2s_keras does not know the fields of TFDS set {name!r}. "
                "Pass --source-field and --target-field (see the set's "
                f"features on its catalog page). Known sets: {sorted(KNOWN_FIELDS)} "
                "and ted_hrlr_translate/X_to_Y."
            )
        source_field = source_field or known[0]
        target_field = target_field or known[1]
    read_config = None
    if workers > 1:
        read_config = tfds.ReadConfig(
            input_context=tf.distribute.InputContext(workers, index, 1)
        )
    dataset = tfds.load(name, split=split, data_dir=data_dir, read_config=read_config)
    features = dataset.element_spec
    for field in (source_field, target_field):
        if field not in features:
            raise ValueError(
                f"TFDS set {name!r} has no feature {field!r}. Features found: "
                f"{sorted(features)}."
            )
    return dataset.map(lambda example: (example[source_field], example[target_field]))


def tfds_size(name, split, data_dir=None):
    """The pairs in a TFDS split, from the set's info; None where it is not known."""
    import tensorflow_datasets as tfds

    try:
        return int(
            tfds.builder(name, data_dir=data_dir).info.splits[split].num_examples
        )
    except Exception:  # noqa: BLE001  (any set TFDS cannot describe: not known)
        return None
