"""The layering of docs/ARCHITECTURE.md, read from the source: no stage imports a stage above
it, the inference path never imports training, evaluation or the CLI, and no two modules
import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "heartsound"

#: Top-level areas, lowest first; an area may import only areas at its level or below.
LAYERS: list[set[str]] = [
    {"_version", "vocab", "errors", "filters", "resampling"},
    {"io", "preprocess", "features", "frontend", "bundle", "serialize", "example", "plotting",
     "quality_silence"},
    {"quality", "segmentation"},
    {"classification", "streaming", "calibration"},
    {"pipeline", "report"},
    {"batch", "batch_files", "batch_pool", "batch_cluster", "datasets"},
    {"evaluation"},
    {"training"},
    {"cli", "web", "__main__", "__init__"},
]
LEVEL = {area: i for i, layer in enumerate(LAYERS) for area in layer}


def _module(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only)."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _imports(path: Path) -> set[str]:
    """Modules of heartsound that ``path`` imports (absolute, without the package prefix)."""
    mod = _module(path).split(".")
    pkg = mod if path.name == "__init__.py" else mod[:-1]
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [".".join(base + [a.name])
                                                       for a in node.names]
                out.update(n for n in names if n)
            elif node.module and node.module.startswith("heartsound"):
                out.add(node.module.removeprefix("heartsound").lstrip("."))
        elif isinstance(node, ast.Import):
            out.update(a.name.removeprefix("heartsound").lstrip(".") for a in node.names
                       if a.name.startswith("heartsound"))
    return {m for m in out if m}


FILES = sorted(SRC.rglob("*.py"))


def test_every_area_has_a_layer() -> None:
    areas = {_module(p).split(".")[0] for p in FILES}
    assert areas <= set(LEVEL), areas - set(LEVEL)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_import_goes_up_a_layer(path: Path) -> None:
    area = _module(path).split(".")[0]
    if area == "__init__":  # the package's lazy public API may name anything
        return
    up = {m for m in _imports(path) if LEVEL[m.split(".")[0]] > LEVEL[area]}
    assert not up, f"{path.relative_to(SRC)} imports {sorted(up)} from a higher layer"


def test_no_two_modules_import_each_other() -> None:
    graph = {_module(p): _imports(p) for p in FILES}
    pairs = {(a, b) for a, deps in graph.items() for b in deps
             if b in graph and a in graph[b] and a < b
             and not (a.startswith(b + ".") or b.startswith(a + "."))}
    assert not pairs, sorted(pairs)
