"""Layering of src/ (docs/CONTRIBUTING.md, Layering): each package imports only what its table allows, and no two
packages import each other. Imports are read from the source with ast (nothing is imported), lazy
imports inside functions included."""
import ast
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(REPO, "src")

def unit_of(module):
    """src.<package>... -> package; src.<module> -> module; the root package -> "src"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "src"


def source_modules(src=SRC):
    for root, _, files in os.walk(src):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                module = os.path.relpath(path, os.path.dirname(src))[:-3].replace(os.sep, ".")
                yield path, module[:-len(".__init__")] if module.endswith(".__init__") else module


def imported_modules(path):
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "src":  # from src import config
                yield from ("src." + alias.name for alias in node.names)
            else:
                yield node.module


def package_edges(src=SRC):
    """{(importer, imported)} between the units of src/ (packages and top-level modules)."""
    edges = set()
    for path, module in source_modules(src):
        for imported in imported_modules(path):
            if imported == "src" or not imported.startswith("src."):
                continue  # `import src` applies the CPU set-up; it is no dependency on a package
            if unit_of(module) != unit_of(imported):
                edges.add((unit_of(module), unit_of(imported)))
    return edges


def layering_table():
    """{unit: allowed imports} from the table of docs/CONTRIBUTING.md, Layering."""
    with open(os.path.join(REPO, "docs", "CONTRIBUTING.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("### Layering", 1)[1].split("\n#", 1)[0]
    table = {}
    for row in re.findall(r"^\| `src/([a-z_]+)(?:\.py|/)?` \| ([^|]*) \|", section, re.M):
        allowed = row[1].strip()
        names = set() if allowed == "nothing" else {name.strip() for name in allowed.split(",")}
        table["src" if row[0] == "__init__" else row[0]] = names
    return table


def has_cycle(edges):
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    state = {}

    def visit(node):
        state[node] = "open"
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open" or (nxt not in state and visit(nxt)):
                return True
        state[node] = "done"
        return False

    return any(node not in state and visit(node) for node in list(graph))


def test_the_cycle_finder_finds_cycles():
    assert has_cycle({("a", "b"), ("b", "c"), ("c", "a")}) and not has_cycle({("a", "b"), ("a", "c"), ("b", "c")})


def test_the_table_names_every_unit_of_src():
    units = {unit_of(module) for _, module in source_modules()}
    assert units - set(layering_table()) == set(), "add a line for it to docs/CONTRIBUTING.md, Layering"


def test_the_table_has_no_cycle():
    assert not has_cycle({(a, b) for a, allowed in layering_table().items() for b in allowed})


def forbidden_edges(edges, table):
    return {(a, b) for a, b in edges if b not in table.get(a, set())}


def test_no_import_cycle_between_packages():
    assert not has_cycle(package_edges())


def test_each_package_imports_only_what_the_table_allows():
    forbidden = forbidden_edges(package_edges(), layering_table())
    assert forbidden == set(), "imports against docs/CONTRIBUTING.md, Layering"


def test_the_checks_find_a_planted_violation(tmp_path):
    """A copy of the shape of src/ with one lazy upward import (layers -> model, inside a function)
    and a two-unit cycle: both checks above would fail on it."""
    src = tmp_path / "src"
    for folder in ("layers", "model"):
        (src / folder).mkdir(parents=True)
        (src / folder / "__init__.py").write_text("")
    (src / "layers" / "conv.py").write_text("def f():\n    from src.model.net import Net\n    return Net\n")
    (src / "model" / "net.py").write_text("import src.layers.conv\nfrom src import errors\n")
    edges = package_edges(str(src))
    assert edges == {("layers", "model"), ("model", "layers"), ("model", "errors")}
    assert forbidden_edges(edges, layering_table()) == {("layers", "model")}
    assert has_cycle(edges)
