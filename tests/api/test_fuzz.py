"""Fuzzing every route of the OpenAPI document: no 5xx, and every error is a problem document that leaks nothing.

Two fuzzers, both reproducible (fixed seed, derandomized, no example database) and bounded (at most
:data:`EXAMPLES` generated examples an operation):

* schemathesis generates valid and invalid requests (parameters, bodies, content types, unexpected methods) from
  ``api/openapi.json`` for every operation and sends them to the WSGI app in-process;
* plain Hypothesis sends arbitrary text (control characters, long strings, unicode, path traversal, SPARQL and
  markup fragments) as the value of every query parameter and path variable of every GET operation, mixed with
  real ids and accepted values of the bundled case so that the nasty value also reaches the code behind the
  parameters that are right.

Both send an admin bearer token (admin holds every role), so every route is reached past its guard. Reads go to
one app over the bundled case; requests that may change data go to a second, throwaway app: there deleting or
replacing the demo source only means that later examples see less data.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance

from api.access import Tokens
from api.problems import MEDIA_TYPE

SPEC: dict[str, Any] = json.loads((resources.files("api") / "openapi.json").read_text(encoding="utf-8"))
EXAMPLES = 25  # generated examples per operation, in each fuzzer
SEED = 20240917

SCHEMA = schemathesis.openapi.from_dict(SPEC, config=schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {
        "mode": "all",  # valid and invalid requests
        "max-examples": EXAMPLES,
        "deterministic": True,  # derandomized: the same requests on every run
        "database": "none",  # no example database: CI sees exactly what a developer sees
        "with-security-parameters": False,  # the admin token goes on every request (below)
    },
    "phases": {"stateful": {"enabled": False}},
}))
# Bodies the document declares that schemathesis has no serializer for: RDF and zip uploads go as raw bytes,
# SPARQL query and update text as UTF-8 text.
schemathesis.serializer.alias(["application/trig", "application/n-triples", "application/n-quads", "application/zip"],
                              "application/octet-stream")
schemathesis.serializer.alias(["application/sparql-query", "application/sparql-update"], "text/plain")

_ROOT = str(Path(__file__).resolve().parents[2])  # the checkout, wherever it is (CI clones elsewhere)
LEAKS = ("Traceback", 'File "', "/work/", ".py", "site-packages", _ROOT)
_CHANGES_NOTHING = {"GET", "HEAD", "OPTIONS"}
_READ_ONLY_POSTS = {"/sparql"}  # POST /sparql only queries
BASE = "https://w3id.org/oversight/id/"


# ------------------------------------------------------------------ the apps under test


@dataclass
class Target:
    """An app with the bundled case, an admin token, and the errors its loggers recorded."""

    app: Any
    headers: dict[str, str]
    logged: list[logging.LogRecord] = field(default_factory=list)

    def log(self) -> str:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        return "\n".join(formatter.format(record) for record in self.logged) or "(nothing logged)"


class _Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


def _target(folder: Path) -> Iterator[Target]:
    from api import create_app
    from api.database import close, get_db
    from graph.ingest.cases import load_bundled
    from graph.settings import resolve

    config = resolve({"STORE": "oxigraph", "DATA_DIR": str(folder / "store"), "EDITOR_DIR": str(folder / "editor"),
                      "SPARQL_UPDATE": "true", "RATE_LIMIT": "0"}, environ={})
    app = create_app({**config, "TESTING": True})
    with app.app_context():
        load_bundled(get_db())
    _, token = Tokens(config["DATA_DIR"]).create("admin", "fuzzer")
    target = Target(app, {"Authorization": f"Bearer {token}"})
    handler = _Collect(target.logged)
    loggers = [logging.getLogger(name) for name in ("api", "graph", "flask.app", "werkzeug")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield target
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        close(app)


@pytest.fixture(scope="module")
def reads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The app that only ever gets requests that change nothing."""
    yield from _target(tmp_path_factory.mktemp("fuzz-reads"))


@pytest.fixture(scope="module")
def writes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A throwaway app for requests that may change data (sources, SPARQL Update, tokens, sign-in)."""
    yield from _target(tmp_path_factory.mktemp("fuzz-writes"))


def _strings(value: Any) -> Iterator[str]:
    """Every string in a (nested) request value."""
    if isinstance(value, (bytes, bytearray)):
        yield bytes(value).decode("utf-8", "replace")
    elif isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def _echoed(marker: str, sent: list[str]) -> bool:
    """Whether the request itself held `marker` (a problem may quote a bad value, which is no leak)."""
    return any(marker in form for value in sent
               for form in (value, repr(value), json.dumps(value), json.dumps(value, ensure_ascii=False)))


def check_answer(status: int, content_type: str | None, body: str, sent: list[str], request: str,
                 target: Target) -> None:
    """Never a 5xx; an error is a problem document (RFC 9457) that names nothing internal; a page shows no sent
    markup unescaped."""
    where = f"\nrequest: {request}\nstatus: {status}\nbody: {body[:2000]}\nlog:\n{target.log()}"
    assert status < 500, "server error" + where
    if (content_type or "").startswith("text/html"):
        unescaped = [value for value in sent if "<" in value and len(value) >= 4 and value in body]
        assert not unescaped, f"page shows {unescaped[:3]!r} unescaped" + where
    if status >= 400:
        assert (content_type or "").split(";")[0].strip() == MEDIA_TYPE, "error is not a problem document" + where
        problem = json.loads(body)
        assert problem["status"] == status and problem["title"], where
        leaked = [marker for marker in LEAKS if marker in body and not _echoed(marker, sent)]
        assert not leaked, f"error body shows {leaked}" + where


# ------------------------------------------------------------------ schemathesis over the whole document


@SCHEMA.parametrize()
def test_schemathesis(case: Any, reads: Target, writes: Target) -> None:
    changes_nothing = case.method.upper() in _CHANGES_NOTHING or (case.method.upper() == "POST"
                                                                   and case.path in _READ_ONLY_POSTS)
    target = reads if changes_nothing else writes
    target.logged.clear()
    response = case.call(app=target.app, headers=target.headers)
    request = case.as_curl_command(headers={"Authorization": "Bearer <admin token>"})
    sent = list(_strings([case.path_parameters, case.query, case.headers, case.cookies,
                          case.body if isinstance(case.body, (str, bytes, dict, list)) else None]))
    check_answer(response.status_code, (response.headers.get("content-type") or [None])[0], response.text_lossy(),
                 sent, request, target)
    case.validate_response(response, checks=[not_a_server_error, content_type_conformance])


# ------------------------------------------------------------------ plain Hypothesis: arbitrary text everywhere

NASTY = [
    "", " ", "\x00", "\r\n", "\t", "\x1b[31m", "\x7f", "%", "%00", "%2e%2e%2f", "..", "../../etc/passwd",
    "..\\..\\windows\\win.ini", "/etc/passwd", "file:///etc/passwd", "//evil.example", "http://127.0.0.1:9/",
    "> } SERVICE <http://127.0.0.1:9/> {", "\" } ; DROP ALL ; #", "?x ?y ?z }", "<x> <y> <z> .", "#", "\\",
    "<script>alert(1)</script>", "' OR '1'='1", "${jndi:ldap://127.0.0.1:9/a}", "{{7*7}}", "%s%n", "\\u0000",
    "ß\u0130\u212a", "\ud7ff\ue000\uffff", "\u202e\u200b\ufeff", "🙂" * 50, "-1", "0", "1.5", "0x10", "1e309",
    "NaN", "Infinity", "9" * 400, "-" + "9" * 30, "1,2", "a," * 300, ",", ",,", "null", "true", "[]", "{}",
    "2017-02-30", "0000", "9999-99-99", "ovg_0123456789ab_" + "A" * 43, "A" * 10_000,
]
SPARQL = [
    "SELECT * WHERE { ?s ?p ?o } LIMIT 3", "ASK {}", "CONSTRUCT WHERE { ?s ?p ?o } LIMIT 3",
    "DESCRIBE <https://w3id.org/oversight/id/source/charing-cross>",
    "SELECT * WHERE { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }",
    "SELECT * FROM <file:///etc/passwd> WHERE { ?s ?p ?o }", "SELECT * WHERE { GRAPH ?g { ?s ?p ?o } } LIMIT 1",
    "DROP ALL", "INSERT DATA { <a:b> <a:c> <a:d> }", "LOAD <file:///etc/passwd>",
    "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c }", "PREFIX x: <" + "x" * 5000 + "> SELECT * WHERE {}",
]
MEDIA = ["application/json", "text/html", "*/*", "text/csv", "application/problem+json", "text/turtle",
         "application/sparql-results+json", "application/ld+json;q=0.5, text/html;q=0.9", "image/png", "x/y;q=abc"]

nasty = st.one_of(st.text(), st.sampled_from(NASTY), st.text(min_size=1000, max_size=5000),
                  st.lists(st.sampled_from(NASTY), min_size=2, max_size=4).map("".join))
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)


def _resolve(parameter: dict[str, Any]) -> dict[str, Any]:
    found: Any = parameter
    if "$ref" in parameter:
        found = SPEC
        for part in parameter["$ref"].lstrip("#/").split("/"):
            found = found[part]
    return dict(found)


def _get_operations() -> list[tuple[str, dict[str, dict[str, Any]], list[str]]]:
    """(path, query parameters by name, path variables) of every GET operation in the document."""
    out = []
    for path, item in SPEC["paths"].items():
        if "get" in item:
            parameters = [_resolve(p) for p in item.get("parameters", []) + item["get"].get("parameters", [])]
            out.append((path, {p["name"]: p for p in parameters if p["in"] == "query"}, re.findall(r"{(\w+)}", path)))
    return out


GETS = _get_operations()


@dataclass
class Known:
    """Right values for parameters, from the bundled case and from the service's own 400s (`accepted`)."""

    ids: dict[str, list[str]]  # entity kind -> local ids
    by_parameter: dict[str, list[str]]  # query parameter name -> right values
    saved: dict[str, list[str]]  # saved query -> its parameters

    def for_variable(self, path: str, name: str) -> list[str]:
        if name == "id":
            return self.ids[{"officers": "officer", "investigations": "investigation",
                             "chat-groups": "chat-group"}[path.split("/")[1]]]
        return self.by_parameter.get(f"{path.split('/')[1]}:{name}", [])


@pytest.fixture(scope="module")
def known(reads: Target) -> Known:
    client = reads.app.test_client()
    headers = {**reads.headers, "Accept": "application/json"}
    everything = client.get("/sparql", headers={**reads.headers, "Accept": "application/sparql-results+json"},
                            query_string={"query": "SELECT DISTINCT ?s WHERE { GRAPH ?g { ?s a ?t } "
                                                   f"FILTER(STRSTARTS(STR(?s), '{BASE}')) }}"}).get_json()
    ids: dict[str, list[str]] = defaultdict(list)
    for row in everything["results"]["bindings"]:
        kind, _, local = row["s"]["value"][len(BASE):].partition("/")
        ids[kind].append(local)
    values: dict[str, set[str]] = defaultdict(set)
    for path, parameters, variables in GETS:  # what the service accepts, as its 400s say
        if variables:
            continue
        for name, parameter in parameters.items():
            values[name].update(parameter["schema"].get("enum", parameter["schema"].get("items", {}).get("enum", [])))
            answer = client.get(path, query_string={name: "\x01"}, headers=headers).get_json(silent=True) or {}
            if answer.get("parameter") == name:
                values[name].update(answer.get("accepted") or [])
    officers = sorted(ids["officer"])
    values.update({name: set(officers) for name in ("from", "to", "officer", "ignore")})
    values["officers"] = {",".join(officers[i:i + n]) for n in (2, 3) for i in range(0, len(officers), 3)}
    for name, kind in (("investigation", "investigation"), ("inquiry", "inquiry"), ("unit", "unit"),
                       ("station", "station")):
        values[name] |= set(ids[kind] or ids["organisation"])
    for name in ("limit", "top", "k", "sample", "seed", "min_size", "min_shared", "min_investigations",
                 "min_allegations", "max_group_size", "max_degree", "hops", "min_weight"):
        values[name] |= {"1", "2", "3", "5", "1000"}
    values["since"] |= {"2016", "2017-06", "2018-03-01"}
    values["until"] |= {"2017", "2018-12", "2019-01-31"}
    values["query"] |= set(SPARQL)
    listed = client.get("/sources", headers=headers).get_json()["sources"]
    sources, graphs = [s["name"] for s in listed], [s["graph"] for s in listed]
    values["default-graph-uri"] |= set(graphs)
    values["named-graph-uri"] |= set(graphs)
    values["format"] |= {"json", "xml", "csv", "tsv", "ttl", "nt", "jsonld", "rdfxml", "trig", "nq", "graphml"}
    saved = {q["name"]: [p["name"] for p in q["parameters"]]
             for q in client.get("/queries", headers=headers).get_json()["queries"]}
    queries = sorted(saved)
    values["group"] |= set(ids["chat-group"])
    values["min"] |= {"1", "2", "3"}
    values["statement"] |= set(ids["finding"][:3] + ids["allegation"][:3])
    cursors = [client.get(p, query_string={"limit": "1"}, headers=headers).get_json()["next"]
               for p in ("/officers", "/investigations", "/linkage/repeat-subjects", "/linkage/co-accused")]
    values["cursor"] |= {c for c in cursors if c}
    formats = ["graphml", "gexf", "csv", "cytoscape.json", "ttl", "nt", "nq", "trig", "jsonld", "manifest.json"]
    specs = [f"{view}.{fmt}" for view in ("officers", "full") for fmt in formats]
    specs += [f"{kind}/{ids[kind][0]}.{fmt}" for kind in ("officer", "investigation", "chat-group", "inquiry")
              for fmt in ("graphml", "ttl", "csv")]
    specs += [f"query/{name}.ttl" for name in queries]
    by_parameter = {name: sorted(v) for name, v in values.items()}
    by_parameter.update({"sources:name": sources, "queries:name": queries, "export:spec": specs,
                         "editor:version": ["4.6.2"], "editor:name": ["yasgui.min.js", "yasgui.min.css"]})
    return Known(dict(ids), by_parameter, saved)


@pytest.mark.parametrize(("path", "parameters", "variables"), GETS, ids=[p for p, _, _ in GETS])
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_arbitrary_text_in_every_parameter(reads: Target, known: Known, path: str,
                                           parameters: dict[str, dict[str, Any]], variables: list[str],
                                           data: st.DataObject) -> None:
    """Up to two parameters (or path variables) get arbitrary text, as do those that have no right value; the others
    a right one. A saved query also gets its own parameters, which the document cannot list."""
    budget = data.draw(st.integers(0, 2), label="how many broken")

    def value(name: str, right: list[str]) -> str:
        nonlocal budget
        if right and (budget == 0 or not data.draw(st.booleans(), label=f"break {name}")):
            return data.draw(st.sampled_from(right), label=name)
        budget = max(0, budget - 1)
        return data.draw(nasty, label=name)

    values = {name: value(name, known.for_variable(path, name)) for name in variables}
    url = re.sub(r"{(\w+)}", lambda m: quote(values[m.group(1)], safe=""), path)
    required = [name for name, p in parameters.items() if p.get("required")]
    required += known.saved.get(values["name"], []) if path == "/queries/{name}" else []
    optional = sorted(set(parameters) - set(required))
    names = required + (data.draw(st.lists(st.sampled_from(optional), unique=True), label="optional parameters")
                        if optional else [])
    query = {name: [value(name, known.by_parameter.get(name, []))
                    for _ in range(data.draw(st.sampled_from([1, 1, 1, 2]), label=f"how many {name}"))]
             for name in names}
    headers = {**reads.headers, "Accept": data.draw(st.one_of(st.sampled_from(MEDIA), header_text), label="Accept")}
    if data.draw(st.booleans(), label="with If-None-Match"):
        headers["If-None-Match"] = data.draw(header_text, label="If-None-Match")
    reads.logged.clear()
    answer = reads.app.test_client().get(url, query_string=query, headers=headers)
    try:
        body = answer.get_data().decode("utf-8", "replace")  # some answers are zips
    finally:
        answer.close()
    shown = {k: v for k, v in headers.items() if k != "Authorization"}
    request = f"GET {url}?{urlencode(query, doseq=True)} headers={shown!r} (and the admin bearer token)"
    check_answer(answer.status_code, answer.content_type, body, [*values.values(), *_strings(query),
                                                                  *shown.values()], request, reads)


def test_the_fuzzed_document_is_the_served_one(reads: Target) -> None:
    assert reads.app.test_client().get("/openapi.json").get_json() == SPEC
    assert len(GETS) >= 25 and len(list(SCHEMA.get_all_operations())) == sum(
        1 for item in SPEC["paths"].values() for method in item if method != "parameters")
