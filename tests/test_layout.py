"""The package's shape: no import cycle among its modules, counting the imports inside functions too (an
import deferred to a function still closes a cycle, it only hides it), and every import deferred to a
function says why in a comment."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "seqmem"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text()) for p in PACKAGE.rglob("*.py")}


def imported(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The package's modules `name` imports anywhere in its source, and the packages they sit in (importing
    `seqmem.a.b` runs `seqmem.a` first)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                       for a in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            found |= {".".join(parts[:n]) for n in range(2, len(parts) + 1)} & known
    return found - {name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan), or a module importing itself."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph() -> dict[str, set[str]]:
    trees = modules()
    known = set(trees)
    return {name: imported(name, tree, known) for name, tree in trees.items()}


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50 and "seqmem.run.build" in graph["seqmem.run.experiment"]  # the package was read
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function():
    """The control: two modules that import each other, one of them inside a function."""
    a = ast.parse("from seqmem.b import f\n")
    b = ast.parse("def f():\n    from seqmem.a import g  # deferred\n    return g\n")
    known = {"seqmem.a", "seqmem.b"}
    graph = {"seqmem.a": imported("seqmem.a", a, known), "seqmem.b": imported("seqmem.b", b, known)}
    assert cycles(graph) == [["seqmem.a", "seqmem.b"]]
    assert cycles({"seqmem.a": {"seqmem.b"}, "seqmem.b": set()}) == []


def deferred_imports(tree: ast.Module, lines: list[str]) -> list[tuple[int, bool]]:
    """Each import inside a function: its line, and whether a comment says why: on its line, or just above it
    or above the block of imports it belongs to."""
    found = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    found[node.lineno] = says_why(lines, node.lineno)
    return sorted(found.items())


def says_why(lines: list[str], lineno: int) -> bool:
    if "#" in lines[lineno - 1]:
        return True
    above = lineno - 2
    while above >= 0 and lines[above].strip().startswith(("import ", "from ")):
        if "#" in lines[above]:
            return True
        above -= 1
    return above >= 0 and lines[above].strip().startswith("#")


def test_every_import_inside_a_function_says_why():
    bare = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        for line, says_why in deferred_imports(ast.parse(text), text.splitlines()):
            if not says_why:
                bare.append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    assert bare == []


def test_a_bare_deferred_import_is_caught():
    text = ("def f():\n    import torch\n    return torch\n\ndef g():\n    import torch  # start-up: no PyTorch for help\n"
            "    import numpy\n\ndef h():\n    x = 1\n    import numpy\n")
    assert deferred_imports(ast.parse(text), text.splitlines()) == [(2, False), (6, True), (7, True), (11, False)]
