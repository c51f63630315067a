"""Sphinx configuration of heartsound's documentation site.

Build (offline, warnings as errors), from the repository root::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API pages are generated from the modules' ``__all__`` (``docs/api/modules.py``);
the gallery runs every ``examples/plot_*.py`` on the corpora in ``$HEARTSOUND_DATA``
(default ``../shared/data`` beside the repository).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
if (REPO / "src" / "heartsound").is_dir():
    sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(DOCS / "api"))
os.environ.setdefault("HEARTSOUND_DATA", str(REPO.parent / "shared" / "data"))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import heartsound  # noqa: E402
import modules  # noqa: E402  (docs/api/modules.py)

modules.write_pages(DOCS)

project = "heartsound"
author = "heartsound developers"
copyright = "heartsound developers (MIT licence)"
release = heartsound.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "results", "figures", "**.ipynb_checkpoints",
                    "auto_examples/*.py", "auto_examples/*.ipynb"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"

autosummary_generate = False  # tables only: docs/api/modules.py writes the entries
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "furo"
html_title = f"heartsound {release}"
html_static_path: list[str] = []

sphinx_gallery_conf = {
    "examples_dirs": str(REPO / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"_common\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "show_memory": False,
    "show_signature": False,
}
