"""The generated closed namespace is current and closed."""

from __future__ import annotations

from importlib import resources

import pytest

from ontology import OV
from ontology.generate import render


def test_generated_namespace_module_is_current() -> None:
    current = resources.files("ontology").joinpath("namespace.py").read_text("utf-8")
    assert current == render(), "ontology/namespace.py is stale: run python -m ontology.generate"


def test_namespace_is_closed() -> None:
    assert str(OV.Officer) == "https://w3id.org/oversight/ontology#Officer"
    with pytest.raises(AttributeError):
        OV.Oficer  # noqa: B018


def test_the_ontology_namespace_is_spelled_in_ontology_and_the_prefix_table_only() -> None:
    """The guide's rule: code names ontology terms through OV (closed: a misspelt term fails at once), never
    as an IRI string; graph/prefixes.py is the one table of prefixes, and stored queries declare theirs."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spelled = [str(path.relative_to(root)) for folder in ("graph", "api") for path in (root / folder).rglob("*.py")
               if str(OV) in path.read_text("utf-8") and path != root / "graph" / "prefixes.py"]
    assert spelled == []


def test_oxigraph_terms_are_the_same_terms_and_closed() -> None:
    """OX holds every OV term as a pyoxigraph node (code writing the store does not convert by hand), and only those."""
    import pyoxigraph as ox

    from ontology import OX

    assert OX.Source == ox.NamedNode(str(OV.Source))
    names = {n for n in vars(OX) if not n.startswith("_")}
    assert names == {n for n in OV.__annotations__}
    assert all(getattr(OX, n) == ox.NamedNode(str(getattr(OV, n))) for n in names)
    with pytest.raises(AttributeError):
        OX.Sourse  # noqa: B018


def test_no_code_converts_ontology_terms_to_oxigraph_by_hand() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    by_hand = re.compile(r"NamedNode\(\s*str\(\s*OV\.")
    found = [str(path.relative_to(root)) for folder in ("graph", "api") for path in (root / folder).rglob("*.py")
             if by_hand.search(path.read_text("utf-8"))]
    assert found == []
