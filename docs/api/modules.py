"""The modules the API reference documents, and the pages generated for them.

``docs/conf.py`` calls :func:`write_pages` before Sphinx reads its sources: one page per
module in :data:`SECTIONS` (``docs/api/generated/<module>.rst``, not committed) listing
every name of the module's ``__all__`` in an autosummary table; autosummary then writes one
page per function, class and constant. An object exported by several modules (e.g.
``heartsound.load`` is ``heartsound.io.load``) is documented once, under the first module
listed here that exports it, and linked from the others; :func:`targets` says where each
public name is documented (``tests/test_docs_build.py`` checks every one of them in the
built site).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

#: (section title, modules), in the order of the API index. Each module's public names are
#: its ``__all__``.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Analysis stages", (
        "heartsound.io", "heartsound.quality", "heartsound.frontend",
        "heartsound.segmentation", "heartsound.classification", "heartsound.streaming",
        "heartsound.pipeline")),
    ("Outputs", (
        "heartsound.serialize", "heartsound.report", "heartsound.plotting",
        "heartsound.batch")),
    ("Evaluation and corpora", (
        "heartsound.evaluation", "heartsound.evaluation.metrics",
        "heartsound.evaluation.segmentation", "heartsound.evaluation.classification",
        "heartsound.evaluation.detection", "heartsound.evaluation.annotations",
        "heartsound.evaluation.quality", "heartsound.datasets",
        "heartsound.datasets.download", "heartsound.datasets.splits")),
    ("Training (needs the ``train`` extra: torch)", (
        "heartsound.training.config", "heartsound.training.runtime",
        "heartsound.training.classifier", "heartsound.training.segmenter",
        "heartsound.training.onnx_export")),
    ("Support", (
        "heartsound.errors", "heartsound.example", "heartsound.vocab", "heartsound.bundle")),
)
#: Every documented module except the top-level one, in order.
MODULES: tuple[str, ...] = tuple(m for _, mods in SECTIONS for m in mods)
#: Where generated pages go (relative to ``docs/``).
GENERATED = Path("api") / "generated"


def public_names(module: str) -> list[str]:
    """``module.__all__`` (empty when it has none)."""
    return list(getattr(importlib.import_module(module), "__all__", []))


def _is_object(value: Any) -> bool:
    """Whether ``value`` has one identity worth documenting once (not a constant)."""
    return inspect.ismodule(value) or inspect.isclass(value) or callable(value)


def targets() -> dict[tuple[str, str], str]:
    """``(module, name) -> full name`` of the documented object, for every public name of
    ``heartsound`` and of every module of :data:`MODULES`.

    A module object maps to its own name (documented by its page when it is in
    :data:`MODULES`); a function or class to the first ``<module>.<name>`` in
    :data:`MODULES` order that exports it; a constant to itself.
    """
    out: dict[tuple[str, str], str] = {}
    seen: dict[int, str] = {}
    for mod in MODULES:
        m = importlib.import_module(mod)
        for name in public_names(mod):
            value = getattr(m, name)
            home = getattr(value, "__module__", None)
            if _is_object(value) and not inspect.ismodule(value) and home in MODULES \
                    and name in public_names(home):
                seen.setdefault(id(value), f"{home}.{name}")
    for mod in MODULES:
        m = importlib.import_module(mod)
        for name in public_names(mod):
            value = getattr(m, name)
            full = f"{mod}.{name}"
            if inspect.ismodule(value):
                full = value.__name__
            elif _is_object(value):
                full = seen.setdefault(id(value), full)
            out[(mod, name)] = full
    top = importlib.import_module("heartsound")
    for name in public_names("heartsound"):
        value = getattr(top, name)
        if inspect.ismodule(value):
            out[("heartsound", name)] = value.__name__
        elif _is_object(value) and id(value) in seen:
            out[("heartsound", name)] = seen[id(value)]
        else:
            out[("heartsound", name)] = f"heartsound.{name}"
    return out


def _table(names: list[str], toctree: bool) -> list[str]:
    if not names:
        return []
    lines = [".. autosummary::"]
    if toctree:
        lines.append("   :toctree: .")
    lines += ["   :nosignatures:", ""]
    return lines + [f"   {n}" for n in names] + [""]


def module_page(module: str, where: dict[tuple[str, str], str]) -> str:
    """reST of ``module``'s page: its docstring, then its public names."""
    title = module
    own, linked, modules = [], [], []
    for name in public_names(module):
        full = where[(module, name)]
        if full == f"{module}.{name}":
            own.append(name)
        else:
            (modules if _is_module(full) else linked).append((name, full))
    lines = [title, "=" * len(title), "", f".. automodule:: {module}", "",
             f".. currentmodule:: {module}", ""]
    if own:
        lines += ["Public names", "------------", ""] + _table(own, toctree=True)
    if linked:
        lines += ["Also exported here", "------------------", "",
                  "Documented under the module that defines them:", ""]
        lines += _table([f"~{full}" for _, full in linked], toctree=False)
    if modules:
        lines += ["Modules exported here", "---------------------", ""]
        lines += [f"* ``{name}``: :mod:`{full}`" for name, full in modules] + [""]
    return "\n".join(lines)


def _is_module(full: str) -> bool:
    try:
        importlib.import_module(full)
    except ImportError:
        return False
    return True


def top_page(where: dict[tuple[str, str], str]) -> str:
    """reST of the ``heartsound`` page: the top-level names and where each is documented."""
    lines = ["heartsound (top level)", "======================", "",
             ".. automodule:: heartsound", "", ".. currentmodule:: heartsound", "",
             ".. py:data:: __version__", "   :type: str", "",
             "   The installed version of heartsound (also ``heartsound --version``).", "",
             "Every other public name of ``heartsound`` is the same object as a name of a",
             "stage module, documented there:", "", ".. currentmodule:: None", ""]
    objects, modules = [], []
    for name in public_names("heartsound"):
        if name == "__version__":
            continue
        full = where[("heartsound", name)]
        (modules if _is_module(full) else objects).append((name, full))
    lines += _table([f"~{full}" for _, full in objects], toctree=False)
    lines += ["Modules exported at the top level:", ""]
    lines += [f"* ``heartsound.{name}``: :mod:`{full}`" for name, full in modules] + [""]
    return "\n".join(lines)


def index_page() -> str:
    """reST of the generated API index (a toctree per section)."""
    lines = ["API reference", "=============", "",
             "Every public name of ``heartsound`` (its ``__all__``) and of each stage's",
             "module. Arrays are numpy arrays; shapes are given as ``[shape=(n,)]``;",
             "times are seconds (``*_s``) or sample indices at the stated rate ``sr`` (Hz);",
             "heart rates are beats per minute. See :doc:`/guide/conventions`.", "",
             ".. toctree::", "   :maxdepth: 1", "", "   heartsound", ""]
    for title, mods in SECTIONS:
        lines += [title, "-" * len(title), "", ".. toctree::", "   :maxdepth: 1", ""]
        lines += [f"   {m}" for m in mods] + [""]
    return "\n".join(lines)


def write_pages(docs: Path) -> int:
    """Write the generated pages under ``docs``; the number of module pages."""
    out = docs / GENERATED
    out.mkdir(parents=True, exist_ok=True)
    where = targets()
    pages = {"index": index_page(), "heartsound": top_page(where)}
    pages.update({m: module_page(m, where) for m in MODULES})
    for name, text in pages.items():
        path = out / f"{name}.rst"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return len(pages) - 1
