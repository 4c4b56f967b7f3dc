"""RDF/XML is read, but XML with a DOCTYPE or entities is refused before any parser sees it."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest

from graph import Database, InputError, load, plan
from graph.ingest.cases import load_bundled

OV = "https://w3id.org/oversight/ontology#"
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rdf:RDF [
 <!ENTITY a "lol"> <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"> <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"> <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"> <!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ov="https://w3id.org/oversight/ontology#">
 <ov:Officer rdf:about="https://w3id.org/oversight/id/officer/x"><ov:identifier>&g;</ov:identifier></ov:Officer>
</rdf:RDF>
"""
XXE_FILE = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ov="https://w3id.org/oversight/ontology#">
 <ov:Officer rdf:about="https://w3id.org/oversight/id/officer/x"><ov:identifier>&secret;</ov:identifier></ov:Officer>
</rdf:RDF>
"""
PARAMETER = """<?xml version="1.0"?>
<!-- a comment first, then a parameter entity fetched from a listener -->
<!DOCTYPE r [<!ENTITY % remote SYSTEM "http://127.0.0.1:{port}/evil.dtd"> %remote;]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>
"""


@pytest.fixture
def listener() -> Any:
    """A loopback port that records whether anything connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(5)
    hits: list[bytes] = []

    def accept() -> None:
        try:
            conn, _ = server.accept()
            hits.append(conn.recv(1024))
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    server.close()


def _refused(db: Database, path: Path) -> InputError:
    version = db.data_version
    with pytest.raises(InputError) as caught:
        load(db, plan([path], source="xml"), user="test")
    assert db.data_version == version and "xml" not in db.sources
    return caught.value


@pytest.mark.parametrize(("name", "text", "line"), [
    ("laughs.rdf", LAUGHS, 2), ("xxe.rdf", XXE_FILE, 2),
    ("late.owl", '<?xml version="1.0"?>\n<!-- c -->\n<![CDATA[x]]>\n<!ELEMENT r ANY>\n<r/>', 4),
])
def test_declarations_are_refused_with_file_and_line(memory_db: Database, tmp_path: Path, name: str, text: str,
                                                     line: int) -> None:
    path = tmp_path / name
    path.write_text(text)
    issue = _refused(memory_db, path).issues[0]
    assert (issue.file, issue.rule, issue.line) == (name, "xml declaration", line)
    assert "DOCTYPE or entities" in issue.message


def test_no_entity_is_ever_fetched(memory_db: Database, tmp_path: Path, listener: Any) -> None:
    port, hits = listener
    path = tmp_path / "remote.rdf"
    path.write_text(PARAMETER.format(port=port))
    _refused(memory_db, path)
    assert hits == []


@pytest.mark.parametrize("data", [
    LAUGHS.encode("utf-16"),  # a BOM, and no "<!DOCTYPE" bytes to find
    LAUGHS.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16-le"),
    LAUGHS.replace('version="1.0"', 'version="1.0" encoding="ISO-8859-1"').encode("latin-1"),
])
def test_xml_that_is_not_utf8_is_refused(memory_db: Database, tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "other.rdf"
    path.write_bytes(data)
    assert _refused(memory_db, path).issues[0].rule == "xml encoding"


def test_a_declaration_across_a_block_boundary_is_found(memory_db: Database, tmp_path: Path) -> None:
    for shift in range(1, 10):  # the scan reads 1 MiB blocks: put "<!DOCTYPE" astride the first boundary
        path = tmp_path / f"boundary{shift}.rdf"
        prefix = '<?xml version="1.0"?>\n<!--' + "x" * ((1 << 20) - 30 - shift) + "-->\n"
        path.write_text(prefix + '<!DOCTYPE r [<!ENTITY a "b">]>\n<r/>')
        issue = _refused(memory_db, path).issues[0]
        assert issue.rule == "xml declaration" and issue.line == 3, shift


def test_plain_rdf_xml_loads_like_turtle(memory_db: Database, tmp_path: Path) -> None:
    load_bundled(memory_db)
    quads = list(memory_db.backend.quads(memory_db.sources["charing-cross"].graph))
    path = tmp_path / "case.rdf"
    path.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- exported -->\n' + ox.serialize(
        [ox.Triple(q.subject, q.predicate, q.object) for q in quads], format=ox.RdfFormat.RDF_XML).split(b"?>", 1)[1])
    report = load(memory_db, plan([path], source="as-xml"), user="test")[0]
    assert report.triples == len(quads)


def test_xml_bombs_over_http_are_a_problem_and_load_nothing(client: Any) -> None:
    before = client.get("/health").get_json()["data_version"]
    answer = client.put("/sources/bomb", data=LAUGHS.encode(), content_type="application/rdf+xml")
    assert answer.status_code == 400 and answer.mimetype == "application/problem+json"
    issue = answer.get_json()["issues"][0]
    assert issue["rule"] == "xml declaration" and issue["line"] == 2
    assert client.get("/health").get_json()["data_version"] == before
    assert client.get("/sources/bomb").status_code == 404
