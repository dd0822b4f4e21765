"""The documentation site: every ```python block of docs/ runs, and the site builds strictly.

Each page's blocks run in order in one namespace (a later block may use an earlier one's
names), in a temporary working directory, with matplotlib's Agg backend. Blocks fenced
otherwise (```py, ```sh, plain ```) are shown, not run: the Dask example needs a cluster.
A page that imports an optional package (mnist1d) is skipped without it. The build runs
`mkdocs build --strict` (griffe's docstring warnings and broken links are errors) when mkdocs
is installed (the `docs` and `test` extras install it).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# a fenced block that opens with exactly ```python
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
# optional packages a page may import, beyond the test extra's scikit-learn and matplotlib
OPTIONAL = ("mnist1d",)
PAGES = sorted(p for p in DOCS.rglob("*.md") if BLOCK.search(p.read_text(encoding="utf-8")))


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_pages_with_code_are_found() -> None:
    # the lecture's sections and the tutorials all hold runnable code
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert {"index.md", "lecture/vectorized.md", "tutorials/digits-mlp.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_code_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(page)
    for name in OPTIONAL:
        if re.search(rf"^\s*(from|import) {name}\b", "\n".join(blocks), re.MULTILINE):
            pytest.importorskip(name)
    pytest.importorskip("sklearn")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    try:
        for k, code in enumerate(blocks, start=1):
            source = compile(code, f"{page.relative_to(ROOT)} (block {k})", "exec")
            exec(source, namespace)
    finally:
        plt.close("all")


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs not installed")
def test_site_builds_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "api" / "index.html").is_file()
