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
