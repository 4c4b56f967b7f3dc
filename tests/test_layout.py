"""The guide's layout rules, enforced: what each subpackage of graph/ may import (as its docstring says), names
imported across modules are public (in the module's ``__all__``), class names given to the facts accessor exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from graph.linkage.facts import Facts, classes

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("graph", "api", "ontology")
#: graph's shared leaf modules: any subpackage may import them.
LEAVES = {"graph.errors", "graph.iri", "graph.prefixes", "graph.queries", "graph.settings"}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> list[ast.ImportFrom | ast.Import]:
    return [n for n in ast.walk(ast.parse(path.read_text("utf-8"))) if isinstance(n, ast.ImportFrom | ast.Import)]


def _imported_modules(path: Path) -> set[str]:
    out: set[str] = set()
    for node in _imports(path):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif node.module and node.level == 0:
            out.add(node.module)
    return out


def _unit(module: str) -> str:
    """The subpackage of graph/ a module belongs to (graph.store...), a leaf module itself, or its top package."""
    parts = module.split(".")
    if parts[0] != "graph" or len(parts) == 1:
        return parts[0]
    return ".".join(parts[:2])


def _allowed(package: str) -> set[str]:
    """What `package`'s docstring says it may import (the sentence from 'May import:' to 'Never imports')."""
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text("utf-8"))) or ""
    match = re.search(r"May import:(.*?)Never imports", doc, re.S)
    assert match, f"{package}'s docstring does not say what it may import ('May import: ... Never imports ...')"
    named = set(re.findall(r":mod:`([\w.]+)`", match.group(1)))
    return named | (LEAVES if "shared leaf modules" in match.group(1) else set())


SUBPACKAGES = sorted(m for m, p in MODULES.items() if m.count(".") == 1 and m.startswith("graph.")
                     and p.name == "__init__.py" and m != "graph.queries")


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_each_subpackage_imports_only_what_its_docstring_allows(package: str) -> None:
    allowed = _allowed(package) | {package}
    wrong = sorted(f"{module} imports {imported}" for module, path in MODULES.items() if _unit(module) == package
                   for imported in _imported_modules(path)
                   if imported.split(".")[0] in PACKAGES and _unit(imported) not in allowed)
    assert not wrong, wrong


def test_graph_never_imports_the_http_layer() -> None:
    wrong = sorted(f"{module} imports {imported}" for module, path in MODULES.items() if module.startswith("graph")
                   for imported in _imported_modules(path)
                   if imported.split(".")[0] in {"api", "flask", "werkzeug", "waitress"})
    assert not wrong, wrong


def test_the_layering_check_sees_a_backwards_import(tmp_path: Path) -> None:
    """The check above can fail: a module of graph.ingest that imports graph.linkage is out of bounds."""
    module = tmp_path / "bad.py"
    module.write_text("from graph.linkage.facts import facts\n")
    assert _unit("graph.linkage.facts") not in _allowed("graph.ingest")
    assert "graph.linkage.facts" in _imported_modules(module)


def _all(path: Path) -> set[str] | None:
    for node in ast.parse(path.read_text("utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(getattr(t, "id", None) == "__all__" for t in targets) and node.value is not None:  # type: ignore[attr-defined]
            return set(ast.literal_eval(node.value))  # type: ignore[attr-defined]
    return None


def test_every_module_declares_its_public_names() -> None:
    missing = sorted(m for m, p in MODULES.items() if p.name not in {"__init__.py", "__main__.py"} and _all(p) is None)
    assert not missing, missing


def test_names_imported_across_modules_are_public() -> None:
    wrong = []
    for module, path in MODULES.items():
        for node in _imports(path):
            if not isinstance(node, ast.ImportFrom) or node.level or node.module not in MODULES:
                continue
            public = _all(MODULES[node.module])
            for alias in node.names:
                if f"{node.module}.{alias.name}" in MODULES:  # a submodule
                    continue
                if public is None or alias.name not in public:
                    wrong.append(f"{module}: {alias.name} from {node.module}")
    assert not wrong, wrong


_CLASS_CALLS = {"of_type": 0, "most_referred": 0, "find": 1, "is_a": 1}  # the accessor: first class argument


def test_class_names_given_to_the_facts_accessor_are_classes_of_the_ontology() -> None:
    wrong = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _CLASS_CALLS):
                continue
            for arg in node.args[_CLASS_CALLS[node.func.attr]:]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value not in classes():
                    wrong.append(f"{module}:{node.lineno} {node.func.attr}({arg.value!r})")
    assert not wrong, wrong


def test_the_facts_accessor_refuses_a_misspelt_class() -> None:
    f = Facts("v", {}, {"urn:x": ("Finding",)})
    assert f.is_a("urn:x", "Finding") and f.of_type("Finding") == ("urn:x",)
    for call in (lambda: f.of_type("Findng"), lambda: f.is_a("urn:x", "Findng"), lambda: f.find("x", "Findng"),
                 lambda: f.most_referred("Officer", "Oficer")):
        with pytest.raises(ValueError, match="not a class of the ontology"):
            call()


def _is_click_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a decorator makes `node` a click command or group (``@cli.command``, ``@click.group``...)."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr in {"command", "group"}:
            return True
    return False


def _documented_parameters(doc: str) -> list[str] | None:
    """The names a numpydoc ``Parameters`` section gives (``a, b : int`` gives two, ``*args`` gives args), or None
    when the docstring has no such section."""
    lines = doc.splitlines()
    start = next((i + 2 for i, line in enumerate(lines[:-1])
                  if line == "Parameters" and re.fullmatch(r"-{3,}", lines[i + 1])), None)
    if start is None:
        return None
    names: list[str] = []
    section = lines[start:]
    for i, line in enumerate(section):
        if line.strip() and i + 1 < len(section) and re.fullmatch(r"-{3,}", section[i + 1].strip()):
            break  # the next section's heading
        if line and not line[0].isspace():  # descriptions are indented; names are not
            head = line.split(" : ", 1)[0].removesuffix(" :")
            names += [name.strip().lstrip("*") for name in head.split(",") if name.strip()]
    return names


def _parameter_problems(path: Path) -> list[str]:
    """Public functions of two or more arguments (self and cls aside) without a ``Parameters`` section, click
    commands excepted; and, in any function, a documented name that is not one of its parameters."""
    tree = ast.parse(path.read_text("utf-8"))
    public = _all(path)
    out = []
    for node in tree.body:
        if (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_")
                and (public is None or node.name in public) and not _is_click_command(node)):
            a = node.args
            counted = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs) if x.arg not in ("self", "cls")]
            if len(counted) >= 2 and _documented_parameters(ast.get_docstring(node) or "") is None:
                out.append(f"{node.lineno} {node.name}({', '.join(counted)}): no Parameters section")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            real = {x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg) if x is not None}
            for name in _documented_parameters(ast.get_docstring(node) or "") or []:
                if name not in real:
                    out.append(f"{node.lineno} {node.name}: documents {name!r}, which is not a parameter")
    return out


def test_public_functions_document_their_parameters() -> None:
    """The guide's numpydoc docstrings: a public function of two or more arguments says what each is (click
    commands aside: click documents their options), and no docstring names a parameter the function lacks."""
    wrong = [f"{path.relative_to(ROOT)}:{problem}" for path in MODULES.values() for problem in _parameter_problems(path)]
    assert not wrong, "\n".join(wrong)


def test_the_parameter_check_sees_a_missing_section_and_a_stale_name(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text('__all__ = ["undocumented", "stale", "command", "single"]\n\n\n'
                      'def undocumented(a, b):\n    """No sections."""\n\n\n'
                      'def stale(a, *rest, b):\n    """Renamed.\n\n    Parameters\n    ----------\n'
                      '    a, c : int\n        One was renamed.\n    *rest\n        Kept.\n\n'
                      '    Returns\n    -------\n    d : int\n    """\n\n\n'
                      '@cli.command("x")\ndef command(ctx, option):\n    pass\n\n\n'
                      'def single(self, a):\n    pass\n\n\n'
                      'def _private(a, b):\n    pass\n')
    assert [p.split(" ", 1)[1] for p in _parameter_problems(module)] == [
        "undocumented(a, b): no Parameters section", "stale: documents 'c', which is not a parameter"]
