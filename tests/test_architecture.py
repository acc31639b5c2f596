"""The shape of the code base (docs/DESIGN.md, "Map"): files a newcomer can hold in mind,
functions that fit on a screen, one list of the runtime's sources. The import layering itself
is import-linter's contract in pyproject.toml (`lint-imports`, run by scripts/test.sh)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_FILE_LINES = 800
MAX_BODY_LINES = 80  # a function's body, its docstring not counted
LONG_BECAUSE = "Long because"  # a docstring line that says why a function stays longer


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


@pytest.mark.parametrize(
    ("tree", "pattern"), [("ooc_sdk", "*.py"), ("c_runtime/src", "*.c"), ("c_runtime/src", "*.h")]
)
def test_no_file_over_800_lines(tree: str, pattern: str) -> None:
    files = sorted((ROOT / tree).rglob(pattern))
    assert files, f"nothing matches {tree}/{pattern}"
    long = {str(p.relative_to(ROOT)): _lines(p) for p in files if _lines(p) > MAX_FILE_LINES}
    assert not long, f"files over {MAX_FILE_LINES} lines: {long}"


def _long_functions(path: Path, root: Path = ROOT) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        doc = ast.get_docstring(node) or ""
        body = node.body[1:] if doc else node.body
        if not body:
            continue
        n = body[-1].end_lineno - body[0].lineno + 1  # type: ignore[operator]
        if n > MAX_BODY_LINES and LONG_BECAUSE not in doc:
            out.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_functions_fit_on_a_screen() -> None:
    long = [f for p in sorted((ROOT / "ooc_sdk").rglob("*.py")) for f in _long_functions(p)]
    assert not long, (
        f"function bodies over {MAX_BODY_LINES} lines without a '{LONG_BECAUSE}' line in their "
        f"docstring: {long}"
    )


def test_the_checker_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_BODY_LINES + 1))
    f = tmp_path / "m.py"
    f.write_text(f'def f() -> None:\n    """Short."""\n{body}\n')
    assert len(_long_functions(f, tmp_path)) == 1
    f.write_text(f'def f() -> None:\n    """{LONG_BECAUSE}: a table."""\n{body}\n')
    assert _long_functions(f, tmp_path) == []


def test_one_source_list_in_python() -> None:
    """The runtime's sources come from c_runtime/sources.txt through one function
    (codegen/runtime.py); no other module globs c_runtime/src."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "ooc_sdk").rglob("*.py"))
        if p.name != "runtime.py" and '"src").rglob' in p.read_text()
    ]
    assert not offenders, f"modules listing the runtime's sources themselves: {offenders}"
