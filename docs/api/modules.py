"""The modules the API reference documents, and the pages generated for them.

``docs/conf.py`` calls :func:`write_pages` before Sphinx reads its sources: one page per
module in :data:`SECTIONS` (``docs/api/generated/<module>.rst``, not committed) listing
every name of the module's ``__all__`` in an autosummary table, then the entry of each
(autodoc) on the same page (one page per object made every page's navigation tree, and
so the build, several times slower). An object exported by several modules (e.g.
``heartsound.load`` is ``heartsound.io.load``) is documented once, under the module that
defines it (else the first module listed here that exports it), and linked from the
others; :func:`targets` says where each
public name is documented (``tests/test_docs_build.py`` checks every one of them in the
built site).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

from sphinx.pycode import ModuleAnalyzer
from sphinx.errors import PycodeError

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


@functools.lru_cache(maxsize=None)
def _attr_docs(module: str) -> dict[str, list[str]]:
    try:
        found = ModuleAnalyzer.for_module(module).find_attr_docs()
    except PycodeError:
        return {}
    return {name: list(doc) for (scope, name), doc in found.items() if scope == ""}


def attr_doc(module: str, name: str) -> list[str] | None:
    """The ``#:`` comment lines of constant ``name`` in ``module``'s source, or None."""
    return _attr_docs(module).get(name)


def home_doc(name: str, value: Any) -> tuple[str | None, list[str] | None]:
    """The loaded heartsound module that documents constant ``name`` (the same object),
    and its ``#:`` comment lines; ``(None, None)`` when none does."""
    for mod in sorted(m for m in sys.modules if m == "heartsound" or
                      m.startswith("heartsound.")):
        doc = attr_doc(mod, name)
        if doc is not None and getattr(sys.modules[mod], name, None) is value:
            return mod, doc
    return None, None


def _is_object(value: Any) -> bool:
    """Whether ``value`` has one identity worth documenting once (not a constant)."""
    return inspect.ismodule(value) or inspect.isclass(value) or callable(value)


def targets() -> dict[tuple[str, str], str]:
    """``(module, name) -> full name`` of the documented object, for every public name of
    ``heartsound`` and of every module of :data:`MODULES`.

    A module object maps to its own name (documented by its page when it is in
    :data:`MODULES`); a function or class to the first ``<module>.<name>`` in
    :data:`MODULES` order that exports it; a constant to itself, or to the documented
    module of :data:`MODULES` that defines it when this one only re-exports it.
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
            elif attr_doc(mod, name) is None:
                home = home_doc(name, value)[0]
                full = f"{home}.{name}" if home in MODULES else full
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


def _table(names: list[str]) -> list[str]:
    if not names:
        return []
    return [".. autosummary::", "   :nosignatures:", ""] + [f"   {n}" for n in names] + [""]


def _entry(module: str, name: str) -> list[str]:
    """The directive documenting ``module.name`` on its module's page."""
    value = getattr(importlib.import_module(module), name)
    if inspect.isclass(value) and issubclass(value, BaseException):
        return [f".. autoexception:: {name}", ""]
    if inspect.isclass(value):
        return [f".. autoclass:: {name}", "   :members:", ""]
    if callable(value):
        return [f".. autofunction:: {name}", ""]
    if attr_doc(module, name) is not None:
        return [f".. autodata:: {name}", ""]
    home, doc = home_doc(name, value)
    shown = repr(value)
    lines = [f".. py:data:: {name}"]
    if len(shown) <= 200 and "\n" not in shown:
        lines.append(f"   :value: {shown}")
    lines.append("")
    lines += [f"   {ln}" for ln in (doc or [])]
    if home is not None:
        lines += ["", f"   Defined in ``{home}``."]
    return lines + [""]


def _summary(module: str, name: str) -> str:
    """First line of the documentation of constant ``module.name``."""
    value = getattr(importlib.import_module(module), name)
    doc = attr_doc(module, name) or home_doc(name, value)[1] or [""]
    return doc[0]


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
    objects = [n for n in own if _is_object(getattr(importlib.import_module(module), n))]
    constants = [n for n in own if n not in objects]
    if own:
        lines += ["Public names", "------------", ""] + _table(objects)
        lines += [f"* :data:`{n}`: {_summary(module, n)}".rstrip(": ") for n in constants]
        lines += [""]
    if linked:
        lines += ["Also exported here", "------------------", "",
                  "Documented under the module that defines them:", ""]
        lines += _table([f"~{full}" for _, full in linked])
    if modules:
        lines += ["Modules exported here", "---------------------", ""]
        lines += [f"* ``{name}``: :mod:`{full}`" for name, full in modules] + [""]
    if own:
        lines += ["Reference", "---------", ""]
        for name in own:
            lines += _entry(module, name)
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
    lines += _table([f"~{full}" for _, full in objects])
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
