"""Every Python block of README.md and docs/ runs, so the pages cannot drift from the code.

The blocks of one page run in order in one namespace (a later block uses what an
earlier one made), in a fresh working folder, with the preset cache under it. A
failure's traceback names the page and the line of the block. The pages whose
examples load presets, train or export are slow; the rest run by default.
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(`{3,})(\S*)")
# Pages whose examples take more than a few seconds (they load a preset, prepare a
# corpus, train or export).
SLOW_PAGES = {
    "README.md",
    "docs/batch.md",
    "docs/serving.md",
    "docs/export.md",
    "docs/generation.md",
    "docs/index.md",
    "docs/presets.md",
    "docs/recipes.md",
}


def fenced_blocks(text):
    """`(language, first line number, code)` for each fenced block of a page."""
    blocks, opened = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if opened is None and match:
            opened = (match.group(1), match.group(2), number + 1, [])
        elif opened is not None and line.strip() == opened[0]:
            blocks.append((opened[1], opened[2], "\n".join(opened[3])))
            opened = None
        elif opened is not None:
            opened[3].append(line)
    if opened is not None:
        raise ValueError(f"A fence opened at line {opened[2] - 1} is never closed.")
    return blocks


def python_blocks(page):
    return [
        (line, code)
        for language, line, code in fenced_blocks(page.read_text())
        if language == "python"
    ]


def page_name(page):
    return page.relative_to(ROOT).as_posix()


PAGES_WITH_CODE = [page for page in PAGES if python_blocks(page)]


def test_the_collector_finds_each_block_with_its_line():
    text = "intro\n```python\nx = 1\n```\n\n````bash\n```\nls\n````\n```python\ny = 2\n```\n"
    assert fenced_blocks(text) == [
        ("python", 3, "x = 1"),
        ("bash", 7, "```\nls"),
        ("python", 11, "y = 2"),
    ]
    with pytest.raises(ValueError, match="line 1"):
        fenced_blocks("```python\nx = 1\n")


def test_no_python_block_escapes_the_collector():
    """A block labelled `py` or `python3`, or one with no label that holds Python,
    would not run: every page says `python` or another language."""
    for page in PAGES:
        for language, line, code in fenced_blocks(page.read_text()):
            assert language not in {"py", "python3", "pycon", "ipython"}, (
                f"{page_name(page)}:{line}: label the block `python`"
            )
            if not language:
                assert not re.search(r"^(import|from) \w", code, re.M), (
                    f"{page_name(page)}:{line}: an unlabelled block holds Python"
                )


def test_the_slow_pages_are_pages_with_code():
    assert SLOW_PAGES <= {page_name(page) for page in PAGES_WITH_CODE}


def run_page(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("S2S_KERAS_CACHE", str(tmp_path / "cache"))
    namespace = {"__name__": "__main__"}
    for line, code in python_blocks(page):
        # Blank lines before the block, so that a traceback gives the page's line.
        source = "\n" * (line - 1) + code
        exec(compile(source, str(page), "exec"), namespace)  # noqa: S102


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(
            page,
            id=page_name(page),
            marks=[pytest.mark.slow] if page_name(page) in SLOW_PAGES else [],
        )
        for page in PAGES_WITH_CODE
    ],
)
def test_every_python_block_of_a_page_runs(page, tmp_path, monkeypatch):
    run_page(page, tmp_path, monkeypatch)
