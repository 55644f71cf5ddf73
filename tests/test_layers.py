"""The product's layers point one way (the design's "Layers point one way"): cli → app → handlers (v6,
forward) → engine → schema → translators → odata, with the shared support modules (settings, logs, errors,
headers, upstream) below the handlers and beside the engine. Read from the source files' import statements,
so a new import that points upward, closes a cycle or hides inside a function fails here, naming the file.

A new module: add it to LAYERS below, in the lowest layer its imports allow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("proxy", "translators")

# Module → layer; a name ending in ".*" is a package: itself and every module in it.
LAYERS = {
    "proxy.__main__": "cli",
    "proxy.cli": "cli",
    "proxy.app": "app",
    "proxy.v6": "handlers",
    "proxy.forward": "handlers",
    "proxy.middlewares": "handlers",
    "proxy.rollout": "handlers",
    "proxy.shadow": "handlers",
    "proxy.appkeys": "appkeys",
    "proxy.upstream": "support",
    "proxy.http1": "support",
    "proxy.headers": "support",
    "proxy.browser": "support",
    "proxy.logs": "support",
    "proxy.logfile": "support",
    "proxy.metrics": "support",
    "proxy.listen": "support",
    "proxy.errors": "support",
    "proxy.settings": "support",
    "proxy.lifecycle": "support",
    "proxy.redirects": "support",
    "proxy.healthcheck": "support",
    "proxy.memory": "support",
    "proxy.report.*": "report",  # the usage report command: reads logs, names translator rules
    "proxy.engine.*": "engine",
    "proxy.schema.*": "schema",
    "proxy.odata.*": "odata",
    "translators.*": "translators",
    "proxy": "package",  # proxy/__init__.py: the version, nothing else
    "proxy.data": "package",  # package data (graphs, metadata documents), no code
}

# Each layer may import its own layer and the layers listed here (and, transitively, theirs).
BELOW = {
    "cli": {"app", "support", "package", "report"},
    "report": {"translators"},
    "app": {"handlers"},
    "handlers": {"appkeys", "engine"},
    "appkeys": {"support", "engine"},
    "support": set(),
    "engine": {"schema"},
    "schema": {"odata", "translators"},
    "odata": set(),
    "translators": {"odata"},  # a rule checks its OData text with the grammar when it is declared
    "package": set(),
}


def _allowed(layer: str) -> set[str]:
    seen = {layer}
    todo = [layer]
    while todo:
        for lower in BELOW[todo.pop()]:
            if lower not in seen:
                seen.add(lower)
                todo.append(lower)
    return seen


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(f): f for pkg in PRODUCT for f in sorted((ROOT / pkg).rglob("*.py"))}


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """The product modules a ``from ... import ...`` names (``from . import v6`` names ``proxy.v6``)."""
    if node.level:
        base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in MODULES]
    return found or [target]


def _imports(module: str, source: str | None = None) -> list[tuple[str, int, bool]]:
    """(imported product module, line, inside a function or class body) for every import in ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source, filename=str(path))
    top_level = {id(node) for node in tree.body}
    top_level |= {id(n) for node in tree.body if isinstance(node, ast.If | ast.Try) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = _resolve(module, path, node)
        else:
            continue
        for name in names:
            if name.split(".")[0] in PRODUCT:
                found.append((name, node.lineno, id(node) not in top_level))
    return found


def _owner(name: str) -> str:
    """The product module an imported name belongs to (``proxy.odata.tree.Name`` → ``proxy.odata.tree``)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def layer_of(module: str) -> str:
    if module in LAYERS:
        return LAYERS[module]
    for name, layer in LAYERS.items():
        package = name.removesuffix(".*")
        if name.endswith(".*") and (module == package or module.startswith(package + ".")):
            return layer
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")


def _graph() -> dict[str, set[str]]:
    return {m: {_owner(name) for name, _line, _inner in _imports(m)} - {m} for m in MODULES}


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    layer = layer_of(module)
    allowed = _allowed(layer)
    upward = [
        f"{MODULES[module].relative_to(ROOT)}:{line} imports {name} ({layer_of(_owner(name))})"
        for name, line, _inner in _imports(module)
        if layer_of(_owner(name)) not in allowed
    ]
    assert not upward, f"{module} ({layer}) may import only {sorted(allowed)}:\n" + "\n".join(upward)


def test_the_grammar_imports_nothing_else_of_the_product() -> None:
    outside = [
        f"{MODULES[m].relative_to(ROOT)}:{line} imports {name}"
        for m in MODULES
        if m.startswith("proxy.odata")
        for name, line, _inner in _imports(m)
        if not _owner(name).startswith("proxy.odata")
    ]
    assert not outside


def test_no_product_import_hides_inside_a_function() -> None:
    """An import inside a function is how a cycle gets hidden; optional distributions (the simulator
    for `demo`) are not the product and may be imported lazily."""
    inner = [
        f"{MODULES[m].relative_to(ROOT)}:{line} imports {name}"
        for m in MODULES
        for name, line, is_inner in _imports(m)
        if is_inner
    ]
    assert not inner


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(" → ".join(c) for c in cycles)


def test_the_checker_sees_imports_of_every_kind() -> None:
    """The graph is read right: relative, absolute, package and in-function imports are all found."""
    source = (
        "from . import v6\n"
        "from .errors import api_error\n"
        "import proxy.engine.walk\n"
        "from proxy.odata import Name\n"
        "import json\n"
        "try:\n"
        "    from .logs import get_logger\n"
        "except ImportError:\n"
        "    pass\n"
        "def f():\n"
        "    from .app import create_app\n"
    )
    found = [(_owner(name), line, inner) for name, line, inner in _imports("proxy.forward", source)]
    assert found == [
        ("proxy.v6", 1, False),
        ("proxy.errors", 2, False),
        ("proxy.engine.walk", 3, False),
        ("proxy.odata", 4, False),
        ("proxy.logs", 7, False),
        ("proxy.app", 11, True),
    ]
    assert layer_of("proxy.engine.walk") == "engine" and layer_of("proxy") == "package"
    with pytest.raises(AssertionError, match=r"proxy\.newcomer is in no layer"):
        layer_of("proxy.newcomer")
    assert "support" not in _allowed("engine") and "odata" in _allowed("handlers")
    assert "handlers" not in _allowed("support") and "app" not in _allowed("handlers")
