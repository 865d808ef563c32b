"""The layer rules of docs/architecture.md, checked on the source: every import in every module
under fedrobust/ (module level and inside functions) is parsed, resolved to a fedrobust module and
checked. A failure names the modules and the line."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "fedrobust"

# lower layers never import higher ones (docs/architecture.md); same layer is fine, cycles never
LAYERS = [
    ("cli",),
    ("pipeline", "report"),
    ("federated", "search"),
    ("distill", "privacy"),
    ("evaluation",),
    ("attacks",),
    ("data", "models"),
    ("errors", "files", "registry", "config_schema", "resources", "seeding", "__init__"),
]
LAYER_OF = {part: len(LAYERS) - rank for rank, parts in enumerate(LAYERS) for part in parts}
# function-local imports of fedrobust modules are only for the CLI, which loads a subcommand's
# library when that subcommand runs so that `fedrobust --help` stays fast
LAZY_FEDROBUST_IMPORTS_ALLOWED_IN = ("cli",)


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    in_function: bool


def module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def all_modules() -> dict[str, tuple[Path, bool]]:
    modules = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        name, is_package = module_name(path)
        modules[name] = (path, is_package)
    return modules


def _function_lines(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for child in ast.walk(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    inside.add(id(child))
    return inside


def imports_of(name: str, path: Path, is_package: bool, modules: dict) -> list[Import]:
    """Every fedrobust module ``name`` imports, as the closest module that exists (``from a.b import
    c`` is module a.b.c when that is a module, else a.b)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    in_function = _function_lines(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            candidates = [f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in modules else prefix for alias in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.append(Import(name, candidate, node.lineno, id(node) in in_function))
    return found


def import_graph() -> list[Import]:
    modules = all_modules()
    return [imp for name, (path, is_pkg) in modules.items() for imp in imports_of(name, path, is_pkg, modules)]


def cycles(edges: list[Import]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else "__init__"
    if part not in LAYER_OF:
        raise AssertionError(f"{module}: fedrobust/{part} has no layer in tests/test_architecture.py LAYERS; add it "
                             "there and to docs/architecture.md")
    return LAYER_OF[part]


def _describe(imports: list[Import]) -> str:
    return "\n".join(f"  {i.source} (line {i.line}) imports {i.target}" for i in imports)


@pytest.fixture(scope="module")
def edges() -> list[Import]:
    return import_graph()


def test_the_parser_sees_the_imports_it_must_judge(edges):
    # a check that finds nothing because it parses nothing would pass forever
    assert len(all_modules()) > 100
    targets = {(e.source, e.target) for e in edges}
    assert ("fedrobust.federated.server_app", "fedrobust.federated.algorithms") in targets
    assert any(e.in_function for e in edges)


def test_no_import_cycle_between_modules(edges):
    found = cycles(edges)
    assert not found, "import cycles (module- or function-level imports):\n" + "\n".join(
        "  " + " -> ".join(c) for c in found)


def test_privacy_is_a_library_below_federated(edges):
    bad = [e for e in edges if e.source.startswith("fedrobust.privacy") and e.target.startswith("fedrobust.federated")]
    assert not bad, "fedrobust.privacy must not import fedrobust.federated:\n" + _describe(bad)


def test_attacks_know_no_concrete_student(edges):
    bad = [e for e in edges if e.source.startswith("fedrobust.attacks") and e.target.startswith("fedrobust.models.students")]
    assert not bad, "attacks/ reaches models through the TextClassifier contract only:\n" + _describe(bad)


def test_lower_layers_never_import_higher_ones(edges):
    bad = [e for e in edges if layer(e.target) > layer(e.source)]
    assert not bad, "imports against the layer order of docs/architecture.md:\n" + _describe(bad)


def test_function_local_imports_of_fedrobust_only_in_the_cli(edges):
    bad = [e for e in edges if e.in_function and e.source.split(".")[1] not in LAZY_FEDROBUST_IMPORTS_ALLOWED_IN]
    assert not bad, ("a function-local import of a fedrobust module hides a dependency (or dodges a cycle); "
                     "import it at module level:\n" + _describe(bad))


def test_the_checks_catch_a_cycle_and_a_layer_violation():
    fake = [Import("fedrobust.privacy.a", "fedrobust.federated.b", 1, False),
            Import("fedrobust.federated.b", "fedrobust.privacy.a", 2, True)]
    assert cycles(fake) == [["fedrobust.federated.b", "fedrobust.privacy.a"]]
    assert layer("fedrobust.privacy.a") < layer("fedrobust.federated.b")
