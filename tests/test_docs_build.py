"""The documentation site builds with warnings as errors, and documents what it must.

Runs README.md's build command (``python -m sphinx -W --keep-going -b html docs ...``)
with the output in a temporary folder, every gallery example run afresh
(``run_stale_examples``: nothing cached from an earlier local build counts), then checks
in the built HTML that

* every public name of ``heartsound`` and of every module the API reference lists
  (``docs/api/modules.py``) has its entry (an anchor with the object's full name),
* every ``examples/plot_*.py`` ran and rendered at least one figure.

The build imports every documented module (``heartsound.training`` needs torch: the
``train`` extra) and runs the gallery on the corpora.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("furo")
#: Seconds the build may take (it is about 1-2.5 min on the shared 2-core machine).
BUILD_TIMEOUT_S = 900
_ID = re.compile(r'\bid="([^"]+)"')


def _modules():
    spec = importlib.util.spec_from_file_location("docs_api_modules",
                                                  REPO / "docs" / "api" / "modules.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def anchors(html_dir: Path) -> set[str]:
    """Every ``id`` of every page of the API reference."""
    out: set[str] = set()
    for page in (html_dir / "api" / "generated").glob("*.html"):
        out.update(_ID.findall(page.read_text(encoding="utf-8")))
    return out


def coverage(html_dir: Path) -> tuple[list[str], list[str]]:
    """``(documented, missing)`` public names, as ``module.name``."""
    ids = anchors(html_dir)
    documented, missing = [], []
    for (module, name), full in sorted(_modules().targets().items()):
        page = html_dir / "api" / "generated" / f"{module}.html"
        listed = page.is_file() and name in page.read_text(encoding="utf-8")
        found = full in ids or f"module-{full}" in ids
        (documented if listed and found else missing).append(f"{module}.{name}")
    return documented, missing


#: The build command of README.md (run here with the output in a temporary folder).
README_COMMAND = "python -m sphinx -W --keep-going -b html docs docs/_build/html"


def test_readme_gives_the_build_command():
    assert README_COMMAND in (REPO / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory, data_root) -> Path:
    out = tmp_path_factory.mktemp("docs_build")
    env = {**os.environ, "HEARTSOUND_DATA": str(data_root), "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "Agg"}
    cmd = [sys.executable, *README_COMMAND.split()[1:-1], str(out / "html"),
           "-d", str(out / "doctrees"), "-D", "sphinx_gallery_conf.run_stale_examples=1"]
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=BUILD_TIMEOUT_S)
    elapsed = time.perf_counter() - start
    warnings = [ln for ln in (p.stdout + p.stderr).splitlines() if "WARNING" in ln or
                "ERROR" in ln]
    assert p.returncode == 0 and not warnings, \
        f"sphinx exit {p.returncode}\n" + "\n".join(warnings[:40]) + p.stderr[-3000:]
    print(f"docs build: {elapsed:.1f} s")
    return out / "html"


@pytest.mark.corpus
@pytest.mark.slow
def test_every_public_name_is_in_the_reference(built):
    documented, missing = coverage(built)
    print(f"public names documented: {len(documented)} of {len(documented) + len(missing)}")
    assert missing == []
    top = {n for n in _modules().public_names("heartsound")}
    assert {f"heartsound.{n}" for n in top} <= set(documented)


@pytest.mark.corpus
@pytest.mark.slow
def test_every_example_ran_and_drew(built):
    examples = sorted((REPO / "examples").glob("plot_*.py"))
    assert 8 <= len(examples) <= 12
    images = built / "_images"
    for ex in examples:
        page = built / "auto_examples" / f"{ex.stem}.html"
        assert page.is_file(), ex.name
        assert list(images.glob(f"sphx_glr_{ex.stem}_001.png")), f"{ex.name} drew no figure"


@pytest.mark.corpus
@pytest.mark.slow
def test_guide_pages_are_built(built):
    for page in (REPO / "docs" / "guide").glob("*.rst"):
        assert (built / "guide" / f"{page.stem}.html").is_file(), page.name
    assert "analysis.schema.json" in (built / "guide" / "formats.html").read_text(
        encoding="utf-8")
