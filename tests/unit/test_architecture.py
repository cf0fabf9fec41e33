"""The shape of the code: layers point down, no import cycles, no hidden imports, small modules.

The import graph is read from the source (``ast``), so nothing is imported. Rules (see
``docs/architecture.md``):

* **layers** — a package may import its own layer and the ones below, never above:
  foundation (``errors``, ``config``, ``configdoc``) < core (``analysis``, ``embedding``,
  ``clustering``, ``policy``, ``sequencing``, ``library``, ``synth``) < ``store`` < ``pipeline``
  < adapters (``cli``, ``worker``, ``api``, ``remote``, and any package not listed). Type-only
  imports (``if TYPE_CHECKING:``) count: a type is a dependency too.
* **no cycles** between modules (run-time imports, function-level ones included);
* **no** ``except ImportError`` around an import of a project module (a missing module is a
  broken install, not an optional feature);
* **no** ``Any`` for the store or the configuration in ``pipeline/``;
* modules stay small (``MAX_LINES``), migrations aside (``OVERSIZE``: the ones still to split).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "sonicmap"

FOUNDATION, CORE, STORE, PIPELINE, ADAPTER = range(5)
LAYER_NAMES = ("foundation", "core", "store", "pipeline", "adapter")
LAYERS = {
    "sonicmap": FOUNDATION,  # the package itself (__init__, __main__)
    "errors": FOUNDATION,
    "config": FOUNDATION,
    "configdoc": FOUNDATION,
    "analysis": CORE,
    "embedding": CORE,
    "clustering": CORE,
    "policy": CORE,
    "sequencing": CORE,
    "library": CORE,
    "synth": CORE,
    "store": STORE,
    "pipeline": PIPELINE,
    "cli": ADAPTER,
    "worker": ADAPTER,
    "api": ADAPTER,
    "remote": ADAPTER,
    "web": ADAPTER,
}
MAX_LINES = 500
#: Modules still over MAX_LINES, to be split by responsibility (each leaves this list when it
#: is; a listed module under the limit fails the test, so the list only shrinks).
OVERSIZE: set[str] = set()


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    runtime: set[str] = field(default_factory=set)  # imported project modules
    typing_only: set[str] = field(default_factory=set)


def _modules() -> dict[str, Module]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        out[name] = Module(name, path, ast.parse(path.read_text(encoding="utf-8")))
    return out


MODULES = _modules()


def _resolve(name: str) -> str:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                ids.update(id(n) for n in ast.walk(stmt))
    return ids


def _imports(mod: Module) -> list[tuple[ast.stmt, str]]:
    """``(statement, imported project module)`` pairs of ``mod``."""
    package = mod.name if mod.path.name == "__init__.py" else mod.name.rpartition(".")[0]
    out = []
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Import):
            out += [(node, _resolve(a.name)) for a in node.names if a.name.startswith("sonicmap")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            if base.startswith("sonicmap"):
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    out.append((node, sub if sub in MODULES else _resolve(base)))
    return out


for _mod in MODULES.values():
    _typing = _type_checking_nodes(_mod.tree)
    for _stmt, _target in _imports(_mod):
        if _target and _target != _mod.name:
            (_mod.typing_only if id(_stmt) in _typing else _mod.runtime).add(_target)


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "sonicmap"


def _layer(module: str) -> int:
    return LAYERS.get(_package(module), ADAPTER)


def test_the_graph_is_read():
    assert "sonicmap.pipeline.scan" in MODULES["sonicmap.cli.scan"].runtime
    assert "sonicmap.store.db" in MODULES["sonicmap.pipeline.scan.run"].typing_only


def test_layers_point_down():
    wrong = sorted(
        f"{m.name} ({LAYER_NAMES[_layer(m.name)]}) imports {t} ({LAYER_NAMES[_layer(t)]})"
        for m in MODULES.values()
        for t in m.runtime | m.typing_only
        if _layer(t) > _layer(m.name)
    )
    assert not wrong, "imports against the layers (docs/architecture.md):\n" + "\n".join(wrong)


def test_the_layer_rules_catch_a_wrong_direction():
    assert _layer("sonicmap.analysis.decode") < _layer("sonicmap.store.db")
    assert _layer("sonicmap.store.db") < _layer("sonicmap.pipeline.scan")
    assert _layer("sonicmap.pipeline.scan") < _layer("sonicmap.worker.tasks")
    assert _layer("sonicmap.pipeline.scan") < _layer("sonicmap.newthing.x")  # unlisted: adapter


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_no_import_cycles():
    cycles = _cycles({m.name: m.runtime for m in MODULES.values()})
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _guards_project_import(node: ast.Try) -> bool:
    names = set()
    for h in node.handlers:
        if h.type is not None:
            names |= {n.id for n in ast.walk(h.type) if isinstance(n, ast.Name)}
    if not names & {"ImportError", "ModuleNotFoundError"}:
        return False
    for stmt in node.body:
        for n in ast.walk(stmt):
            if isinstance(n, ast.ImportFrom) and (
                n.level or (n.module or "").startswith("sonicmap")
            ):
                return True
            if isinstance(n, ast.Import) and any(a.name.startswith("sonicmap") for a in n.names):
                return True
    return False


def test_no_import_error_guard_around_project_modules():
    guarded = sorted(
        f"{m.path.relative_to(SRC.parent)}:{n.lineno}"
        for m in MODULES.values()
        for n in ast.walk(m.tree)
        if isinstance(n, ast.Try) and _guards_project_import(n)
    )
    assert not guarded, "except ImportError around a project import:\n" + "\n".join(guarded)


STORE_OR_CONFIG = {"store", "cfg", "config", "settings"}


def test_no_any_for_the_store_or_the_config_in_the_pipeline():
    loose = []
    for m in MODULES.values():
        if _package(m.name) != "pipeline":
            continue
        for fn in ast.walk(m.tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                args = fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
                for a in args:
                    if a.arg in STORE_OR_CONFIG and a.annotation is not None:
                        if "Any" in ast.unparse(a.annotation):
                            loose.append(f"{m.path.relative_to(SRC.parent)}:{fn.lineno} {a.arg}")
    assert not loose, "store/config typed Any in pipeline/:\n" + "\n".join(loose)


@pytest.mark.parametrize(
    "module",
    sorted(n for n, m in MODULES.items() if "migrations" not in m.path.parts),
)
def test_modules_stay_small(module: str):
    n = len(MODULES[module].path.read_text(encoding="utf-8").splitlines())
    if module in OVERSIZE:
        assert n > MAX_LINES, f"{module} has {n} lines now: remove it from OVERSIZE"
    else:
        assert n <= MAX_LINES, f"{module} has {n} lines (> {MAX_LINES}): split it by responsibility"
