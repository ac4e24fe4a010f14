"""The import rules of docs/architecture.md: each module imports only levels below it."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).parents[1] / "s2s_keras"

# docs/architecture.md's table, bottom (0) to top; a module may import its
# own level and the ones below it.
LEVELS = [
    ["_version", "utils", "utils.backends", "utils.checks", "utils.atomic_files",
     "utils.checksums", "utils.tensorflow_import",
     "utils.console", "utils.memory",
     "special_tokens", "utils.keras_internals", "metrics", "utils.plotting"],
    ["data", "text"],
    ["models", "layers", "losses", "average", "schedules"],
    ["decoding"],
    ["export"],
    ["training.callbacks", "training.distribute", "training.multi_worker_fit",
     "training.tuning"],
    ["training.config"],
    ["training.runner", "training.reporting", "training.evaluation",
     "training.generation_search", "training.tasks", "presets"],
    ["training.flags", "serve", "predict", "training"],
]  # fmt: skip
LEVEL_OF = {name: level for level, names in enumerate(LEVELS) for name in names}
# Sub-packages whose modules sit at levels of their own.
SPLIT = ("training", "utils")


def unit_of(module):
    """`s2s_keras.data.pairs` -> `data`, `s2s_keras.training.config.X` ->
    `training.config`; the package itself -> None."""
    parts = module.split(".")[1:]
    if not parts:
        return None
    if parts[0] in SPLIT and len(parts) > 1:
        return f"{parts[0]}.{parts[1]}"
    return parts[0]


def imported_names(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("s2s_keras")
        ):
            if node.module in ("s2s_keras", *(f"s2s_keras.{name}" for name in SPLIT)):
                yield from (unit_of(f"{node.module}.{a.name}") for a in node.names)
            else:
                yield unit_of(node.module)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("s2s_keras."):
                    yield unit_of(alias.name)


def unit_of_path(path):
    """The level's name of a module file: its module's `unit_of`."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return unit_of(".".join(["s2s_keras", *parts]))


MODULES = sorted(
    path
    for path in PACKAGE.rglob("*.py")
    if path.name != "__init__.py" or path.parent != PACKAGE
)


def test_every_module_has_a_level():
    names = {unit_of_path(path) for path in MODULES}
    assert names - set(LEVEL_OF) == set()


@pytest.mark.parametrize(
    "path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE))
)
def test_imports_go_down_only(path):
    own = unit_of_path(path)
    above = {
        name
        for name in imported_names(path)
        if name in LEVEL_OF and LEVEL_OF[name] > LEVEL_OF[own]
    }
    assert not above, f"{own} (level {LEVEL_OF[own]}) imports {sorted(above)}"
