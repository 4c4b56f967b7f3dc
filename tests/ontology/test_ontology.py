"""Lint of the ontology and shapes: the model as data must be complete and consistent."""

from __future__ import annotations

from collections import Counter

import pytest
from rdflib import OWL, RDF, RDFS, SKOS, Namespace, URIRef

from ontology import ontology_graph, shapes_graph

SH = Namespace("http://www.w3.org/ns/shacl#")
OV = "https://w3id.org/oversight/ontology#"
G = ontology_graph()
S = shapes_graph()
CLASSES = sorted(c for c in G.subjects(RDF.type, OWL.Class) if str(c).startswith(OV))
PROPERTIES = sorted(p for kind in (OWL.ObjectProperty, OWL.DatatypeProperty)
                    for p in G.subjects(RDF.type, kind) if str(p).startswith(OV))
CONCEPTS = sorted({c for c in G.subjects(SKOS.inScheme, None)})
SCHEMES = sorted(G.subjects(RDF.type, SKOS.ConceptScheme))


def test_the_model_has_the_classes_the_domain_needs() -> None:
    names = {str(c)[len(OV):] for c in CLASSES}
    required = {"Officer", "PoliceStaff", "Person", "Force", "Unit", "Station", "OversightBody", "Posting",
                "ChatGroup", "ChatMembership", "Message", "Allegation", "Investigation", "Inquiry", "Finding",
                "Sanction", "BarredListEntry", "EmploymentStatus", "Report", "Recommendation", "SourceDocument",
                "Event"}
    assert required <= names


@pytest.mark.parametrize("term", CLASSES + PROPERTIES, ids=lambda t: str(t)[len(OV):])
def test_every_class_and_property_has_a_label_and_a_definition(term: URIRef) -> None:
    assert G.value(term, RDFS.label) is not None
    assert G.value(term, SKOS.definition) is not None


@pytest.mark.parametrize("concept", CONCEPTS, ids=lambda t: str(t)[len(OV):])
def test_every_concept_has_label_definition_notation_and_exactly_one_scheme(concept: URIRef) -> None:
    assert G.value(concept, SKOS.prefLabel) is not None
    assert G.value(concept, SKOS.definition) is not None
    assert G.value(concept, SKOS.notation) is not None
    assert len(list(G.objects(concept, SKOS.inScheme))) == 1


def test_every_concept_is_typed_by_its_scheme_concept_class_and_notations_are_unique_per_scheme() -> None:
    for scheme in SCHEMES:
        members = list(G.subjects(SKOS.inScheme, scheme))
        assert members, f"empty scheme {scheme}"
        classes = {c for m in members for c in G.objects(m, RDF.type)}
        assert len(classes) == 1, f"{scheme}: members typed {classes}"
        notations = Counter(str(G.value(m, SKOS.notation)) for m in members)
        assert max(notations.values()) == 1, f"{scheme}: repeated notations {notations}"


def test_schemes_hold_what_the_domain_requires() -> None:
    def notations(scheme: str) -> set[str]:
        return {str(G.value(m, SKOS.notation)) for m in G.subjects(SKOS.inScheme, URIRef(OV + scheme))}

    standards = [m for m in G.subjects(SKOS.topConceptOf, URIRef(OV + "UKStandards"))]
    assert len(standards) == 10  # the ten Standards of Professional Behaviour
    assert {"failure-to-report", "use-of-force", "abuse-of-authority", "discourtesy", "offensive-language",
            "dishonesty"} <= notations("AllegationCategories")
    assert notations("CCRBAllegationTypes") == {"fado-force", "fado-abuse-of-authority", "fado-discourtesy",
                                                "fado-offensive-language"}
    assert notations("FindingResults") == {"gross-misconduct-proven", "misconduct-proven", "not-proven",
                                           "no-case-to-answer", "discontinued"}
    assert {"dismissal", "suspension", "reprimand", "retraining", "no-further-action",
            "resigned-or-retired"} <= notations("Outcomes")
    assert {"final-written-warning", "written-warning", "management-action", "reflective-practice",
            "words-of-advice", "dismissal-without-notice"} <= notations("UKOutcomes")
    assert {"officer", "detective", "supervisor", "manager", "commander", "chief"} == notations("Ranks")
    assert {"PC", "PS", "INSP", "COMM"} <= notations("UKRanks")
    assert {"nypd-police-officer", "nypd-detective", "nypd-sergeant", "nypd-lieutenant",
            "nypd-captain"} <= notations("NYPDRanks")
    assert {"misogynist", "racist", "homophobic", "disability-discriminatory", "sexualised",
            "violent"} <= notations("MessageCategories")
    assert {"whatsapp", "facebook"} <= notations("Platforms")
    assert {"serving", "dismissed", "resigned", "retired", "contractor-staff-role"} <= notations("EmploymentStatuses")


MATCHES = (SKOS.exactMatch, SKOS.closeMatch, SKOS.broadMatch, SKOS.narrowMatch)
CORE = {URIRef(OV + s) for s in ("AllegationCategories", "Outcomes", "Ranks", "FindingResults", "MessageCategories",
                                 "Platforms", "EmploymentStatuses", "InvestigationStatuses", "EvidenceStatuses",
                                 "PersonRoles")}


def test_every_jurisdiction_concept_is_mapped_to_the_core_and_notations_are_unique_per_class() -> None:
    for concept in CONCEPTS:
        scheme = G.value(concept, SKOS.inScheme)
        if scheme in CORE:
            continue
        linked = {o for p in MATCHES for o in G.objects(concept, p)} | {s for p in MATCHES for s in G.subjects(p, concept)}
        assert any(G.value(c, SKOS.inScheme) in CORE for c in linked), f"{concept} is not mapped to the core"
        assert not list(G.objects(concept, SKOS.broader)), f"{concept}: across schemes, say skos:broadMatch"
    by_class: Counter[tuple[URIRef, str]] = Counter(
        (G.value(c, RDF.type), str(G.value(c, SKOS.notation))) for c in CONCEPTS)
    assert max(by_class.values()) == 1, [k for k, n in by_class.items() if n > 1]  # a cell's notation names one


def test_the_model_is_aligned_to_the_standard_vocabularies() -> None:
    parents = {str(o) for p in (RDFS.subClassOf, RDFS.subPropertyOf) for o in G.objects(None, p)}
    for vocabulary in ("http://xmlns.com/foaf/0.1/", "http://www.w3.org/ns/org#", "http://www.w3.org/ns/prov#",
                       "http://rdfs.org/sioc/ns#", "http://www.w3.org/2004/02/skos/core#",
                       "http://purl.org/dc/terms/", "http://www.w3.org/2006/time#"):
        assert any(p.startswith(vocabulary) for p in parents), vocabulary


def test_every_shape_targets_a_known_class_and_constrains_known_terms() -> None:
    known_classes = set(CLASSES)
    known_properties = set(PROPERTIES)
    shapes = list(S.subjects(RDF.type, SH.NodeShape))
    assert shapes
    for shape in shapes:
        target = S.value(shape, SH.targetClass)
        assert target in known_classes, f"{shape} targets unknown {target}"
        for prop in S.objects(shape, SH.property):
            assert S.value(prop, SH.path) in known_properties, f"{shape}: unknown path {S.value(prop, SH.path)}"
            for cls in S.objects(prop, SH["class"]):
                assert cls in known_classes, f"{shape}: sh:class of unknown {cls}"


def test_every_instance_class_that_data_may_carry_has_a_shape() -> None:
    targets = set(S.objects(None, SH.targetClass))
    concept_classes = {c for c in CLASSES if (c, RDFS.subClassOf, SKOS.Concept) in G}
    abstract_or_meta = {URIRef(OV + n) for n in ("Agent", "Force", "OversightBody", "Unit", "Source", "IngestRun")}
    missing = set(CLASSES) - targets - concept_classes - abstract_or_meta
    assert not missing, sorted(missing)
    # Force, OversightBody and Unit are checked through the Organisation shape (subclass targets).
    for sub in ("Force", "OversightBody", "Unit"):
        assert (URIRef(OV + sub), RDFS.subClassOf, URIRef(OV + "Organisation")) in G


def test_shapes_use_only_the_components_the_store_validator_implements() -> None:
    implemented = {SH.path, SH.minCount, SH.maxCount, SH.datatype, SH["class"], SH["or"]}
    for prop in S.objects(None, SH.property):
        used = {p for p, _ in S.predicate_objects(prop)}
        assert used <= implemented, used - implemented
