"""The import rules of docs/architecture.md: each module imports only levels below it."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).parents[1] / "s2s_keras"

# docs/architecture.md's table, bottom (0) to top; a module may import its
# own level and the ones below it.
LEVELS = [
    ["_version", "checks", "atomic_files", "console", "special_tokens", "keras_internals",
     "metrics", "plotting"],
    ["data", "text"],
    ["models", "layers", "losses"],
    ["decoding"],
    ["export"],
    ["callbacks", "distribute", "multi_worker_fit", "tuning"],
    ["config"],
    ["runner", "reporting", "evaluation", "generation_search", "tasks", "presets"],
    ["flags", "serve"],
]  # fmt: skip
LEVEL_OF = {name: level for level, names in enumerate(LEVELS) for name in names}


def top_name(module):
    """`s2s_keras.data.pairs` -> `data`; the package itself -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def imported_names(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("s2s_keras")
        ):
            if node.module == "s2s_keras":
                yield from (alias.name for alias in node.names)
            else:
                yield top_name(node.module)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("s2s_keras."):
                    yield top_name(alias.name)


MODULES = sorted(
    path
    for path in PACKAGE.rglob("*.py")
    if path.name != "__init__.py" or path.parent != PACKAGE
)


def test_every_module_has_a_level():
    names = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path in MODULES}
    assert names - set(LEVEL_OF) == set()


@pytest.mark.parametrize(
    "path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE))
)
def test_imports_go_down_only(path):
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    above = {
        name
        for name in imported_names(path)
        if name in LEVEL_OF and LEVEL_OF[name] > LEVEL_OF[own]
    }
    assert not above, f"{own} (level {LEVEL_OF[own]}) imports {sorted(above)}"
