"""What to serve: a PATH, or TF Serving's `--model_config_file` for several models.

A PATH is an export folder (version 1), a preset's name or folder (through
its cached export), or a base folder of numbered export folders
(`versions.py`). A model config file is TF Serving's `ModelServerConfig` in
protobuf text format (its proto from `tensorflow-serving-api`), one
`config` a model:

    model_config_list {
      config {
        name: "summarize"
        base_path: "/models/summarize"              # a PATH, as above
        model_version_policy { latest { num_versions: 2 } }   # or all {}, specific {...}
        version_labels { key: "stable" value: 1 }
      }
      config { name: "translate" base_path: "translate_en_it" }
    }
"""

import pathlib
import re

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from s2s_keras.serve.app import ModelSource
from s2s_keras.serve.servable import Servable
from s2s_keras.serve.versions import VersionPolicy
from s2s_keras.serve.versions import version_folders


def default_name(path):
    """A folder's (or preset's) name as a model name: other characters become `_`."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", pathlib.Path(path).resolve().name)
    return name.lstrip("._-") or "model"


def source_of(path, name=None, policy=None, labels=None, log=print):
    """The `ModelSource` of a PATH.

    An export folder or a preset is loaded now (and warmed up), as version
    1; a base folder's versions are loaded by the server as they come.

    Raises:
        ValueError: a PATH that is none of these, or a policy or labels
            given for one export.
    """
    from s2s_keras import presets
    from s2s_keras.presets.exports import cached_export

    name = name or default_name(path)
    folder = pathlib.Path(path)
    named_preset = presets.is_name(str(path)) and presets.is_preset(str(path))
    if not named_preset and not (folder / "saved_model").is_dir():
        if version_folders(folder):
            return ModelSource(
                name, base=folder, policy=policy or VersionPolicy(), labels=labels or {}
            )
        if not presets.is_preset(str(path)):
            raise ValueError(
                f"No SavedModel in {folder} ({folder / 'saved_model'} not found), no "
                "numbered version folders in it, and no preset of that name (presets: "
                f"{', '.join(presets.list()) or 'none'}). Pass an export folder (the "
                "--output of a recipe), a base folder of versions or a preset's name."
            )
    if (policy is not None and policy != VersionPolicy()) or labels:
        raise ValueError(
            "a version policy and labels choose among a base folder's numbered "
            f"versions; {path} is one export, served as version 1"
        )
    if named_preset or not (folder / "saved_model").is_dir():
        folder = cached_export(str(path), log=lambda line: log(line, flush=True))
    servable = Servable(folder)
    servable.warm_up()
    return ModelSource(name, servable=servable)


def sources_from_config(file, log=print):
    """The `ModelSource`s of a TF Serving model config file.

    Raises:
        ValueError: for a file that does not parse, a model without a name
            or a base path, or two models of one name.
    """
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(pathlib.Path(file).read_text(), config)
    except (OSError, text_format.ParseError) as error:
        raise ValueError(f"cannot read the model config file {file}: {error}") from None
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError(f"{file} has no model_config_list")
    models = list(config.model_config_list.config)
    if not models:
        raise ValueError(f"{file} lists no model")
    names = [model.name for model in models]
    for model in models:
        if not model.name or not model.base_path:
            raise ValueError(f"every config in {file} needs a name and a base_path")
        if names.count(model.name) > 1:
            raise ValueError(f"{file} names model {model.name!r} twice")
    return [
        source_of(
            model.base_path,
            model.name,
            _policy(model.model_version_policy),
            dict(model.version_labels),
            log,
        )
        for model in models
    ]


def _policy(proto):
    kind = proto.WhichOneof("policy_choice")
    if kind == "all":
        return VersionPolicy(latest=None)
    if kind == "specific":
        return VersionPolicy(
            latest=None, specific=tuple(sorted(proto.specific.versions))
        )
    if kind == "latest":
        return VersionPolicy(latest=proto.latest.num_versions or 1)
    return None
