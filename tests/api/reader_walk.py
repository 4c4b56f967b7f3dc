"""What a reader's client sees, route by route, and the search for real identities in it.

:class:`Forbidden` holds what must never reach a reader: the local ids of real instance IRIs (and so
every IRI :func:`graph.iri.mint` computes from a source key), other real IRIs, and identifiers, keys,
names and free text as token phrases. :func:`walk` asks every GET route a reader may use (each
listing page by page, every linkage question, entity pages and timelines, every export format with
its manifest and ``Link``, error answers) through any ``get(url) -> (status, headers, body)``: the
Flask test client or a real server over HTTP. Used by ``test_reader_view.py``.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

Get = Callable[[str], tuple[int, dict[str, str], bytes]]

_WORD = re.compile(r"[0-9a-z]+")
_HEX20 = re.compile(r"(?<![0-9a-z])[0-9a-f]{20,}(?![0-9a-z])")
_HEX_RUN = re.compile(r"(?:\bp-)?[0-9a-f]{16,}")
#: Headers that say nothing about the data (sizes and dates are numbers that could look like an id).
_QUIET_HEADERS = {"content-length", "date", "server", "connection", "keep-alive", "content-type", "vary"}
FORMATS = ("graphml", "gexf", "csv", "cytoscape.json", "ttl", "nt", "nq", "trig", "jsonld")


def phrase(text: str) -> tuple[str, ...]:
    """`text` as the tuple of its lower-case words and numbers (how :class:`Forbidden` compares text)."""
    return tuple(_WORD.findall(text.lower()))


@dataclass
class Forbidden:
    """What a reader must never see, and what was found where."""

    local_ids: set[str] = field(default_factory=set)  # 20-hex local ids of real instance IRIs
    phrases: set[tuple[str, ...]] = field(default_factory=set)  # identifiers, keys, names, free text, other IRIs
    found: dict[str, set[Any]] = field(default_factory=lambda: defaultdict(set))  # category -> what was seen
    where: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # category -> URLs
    categories: dict[tuple[str, ...], str] = field(default_factory=dict)  # phrase -> its category
    published: str = ""  # text readers see by design (the sources' names and titles)

    def add(self, category: str, values: Iterable[str], *, min_length: int = 5) -> int:
        """Forbid `values` (text) under `category`; values shorter than `min_length` characters are skipped."""
        added = 0
        for value in values:
            words = phrase(value)
            if words and len("".join(words)) >= min_length:
                self.phrases.add(words)
                self.categories[words] = category  # the later, more specific, name wins
                added += 1
        return added

    def allow(self, public_text: str) -> None:
        """Stop forbidding phrases that `public_text` holds (the ontology, the API's own documents)."""
        for words in self.scan_phrases(public_text):
            self.phrases.discard(words)

    def scan_phrases(self, text: str) -> set[tuple[str, ...]]:
        tokens = _WORD.findall(_HEX_RUN.sub(" ", text.lower()))  # pseudonyms, digests and ETags are hex
        starts: dict[str, set[int]] = defaultdict(set)
        for p in self.phrases:
            starts[p[0]].add(len(p))
        out = set()
        for i, token in enumerate(tokens):
            for n in starts.get(token, ()):
                candidate = tuple(tokens[i:i + n])
                if candidate in self.phrases:
                    out.add(candidate)
        return out

    def scan(self, url: str, text: str) -> None:
        """Record every forbidden thing in `text` (what `url` answered)."""
        low = text.lower()
        for run in _HEX20.findall(low):
            ids = {run[i:i + 20] for i in range(len(run) - 19)} & self.local_ids
            if ids:
                self.found["iri"] |= ids
                self.where["iri"].add(url)
        for words in self.scan_phrases(low):
            category = self.categories.get(words, "text")
            self.found[category].add(" ".join(words))
            self.where[category].add(url)

    def summary(self) -> dict[str, int]:
        return {category: len(values) for category, values in sorted(self.found.items())}


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def readable(headers: dict[str, str], body: bytes) -> str:
    """The text a response holds: its telling headers, and its body (JSON: only the strings, not the
    counts; zips: every member)."""
    parts = [f"{k}: {v}" for k, v in headers.items() if k.lower() not in _QUIET_HEADERS]
    kind = headers.get("Content-Type", headers.get("content-type", ""))
    if "zip" in kind:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for name in archive.namelist():
                parts.append(_text(archive.read(name), name.endswith(".json")))
    else:
        parts.append(_text(body, "json" in kind and "ld+json" not in kind))
    return "\n".join(parts)


def _text(body: bytes, is_json: bool) -> str:
    text = body.decode("utf-8", "replace")
    if is_json:
        try:
            return "\n".join(_strings(json.loads(text)))
        except ValueError:
            pass
    return text


@dataclass
class Walk:
    """A walk of the reader's routes through `get`, each answer scanned by `forbidden`."""

    get: Get
    forbidden: Forbidden
    sample: int = 5
    full_exports: bool = True
    is_reader: bool = True
    visited: list[tuple[str, int]] = field(default_factory=list)

    def fetch(self, url: str, *, expect: int | tuple[int, ...] = 200, scan: bool = True) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = self.get(url)
        self.visited.append((url, status))
        wanted = (expect,) if isinstance(expect, int) else expect
        assert status in wanted, (url, status, body[:300])
        if scan:
            self.forbidden.scan(url, readable(headers, body))
            if status == 200 and "Link" in headers:  # the manifest an export names
                target = headers["Link"].split(">", 1)[0].lstrip("<")
                self.fetch(target)
        return status, headers, body

    def json(self, url: str) -> Any:
        return json.loads(self.fetch(url)[2])

    def pages(self, url: str) -> list[dict[str, Any]]:
        """Every item of a paginated answer, following its cursors."""
        items: list[dict[str, Any]] = []
        joiner = "&" if "?" in url else "?"
        answer = self.json(url)
        items += answer["items"]
        while answer.get("next"):
            answer = self.json(f"{url}{joiner}cursor={quote(answer['next'])}")
            items += answer["items"]
        return items

    def run(self) -> None:
        for url in ("/", "/stats", "/health", "/openapi.json", "/docs", "/login", "/export/context.jsonld"):
            self.fetch(url)
        for source in self.json("/sources")["sources"]:
            self.fetch(f"/sources/{quote(source['name'])}")
        n = self.sample
        officers = self.pages("/officers?limit=1000")
        busiest = sorted(officers, key=lambda o: (-o["investigation_count"], o["officer"]["id"]))
        ids = [o["officer"]["id"] for o in busiest[:n]]
        investigations = self.pages("/investigations?limit=1000")
        inv_ids = [i["investigation"]["id"] for i in sorted(investigations, key=lambda i: -i["subject_count"])[:n]]
        inquiries = sorted({i["inquiry"]["id"] for i in investigations if i.get("inquiry")})[:n]
        groups = [g["id"] for g in self.pages("/chat-groups?limit=1000")][:n]
        for inquiry in inquiries[:1]:
            self.pages(f"/investigations?inquiry={inquiry}&limit=1000")
        self.pages("/investigations?status=concluded&limit=1000")
        self.entities(ids, inv_ids, groups)
        self.linkage(ids, inv_ids)
        self.exports(ids, inv_ids, groups, inquiries)
        self.errors(ids, inv_ids)

    def entities(self, ids: list[str], inv_ids: list[str], groups: list[str]) -> None:
        stations: set[str] = set()
        for officer in ids:
            detail = self.json(f"/officers/{officer}")
            stations |= {p["station"]["id"] for p in detail["postings"] if p.get("station")}
            self.pages(f"/officers/{officer}/timeline?limit=1000")
        for station in sorted(stations)[:1]:
            self.pages(f"/officers?station={station}&limit=1000")
        self.pages("/officers?outcome=dismissal&limit=1000")
        for inv in inv_ids:
            self.json(f"/investigations/{inv}")
            self.pages(f"/investigations/{inv}/timeline?limit=1000")
        for group in groups:
            self.json(f"/chat-groups/{group}")
            self.pages(f"/chat-groups/{group}/timeline?limit=1000")

    def linkage(self, ids: list[str], inv_ids: list[str]) -> None:
        self.pages("/linkage/repeat-subjects?min_investigations=1&limit=1000")
        self.pages("/linkage/repeat-subjects?since=2000&until=2030&limit=1000")
        self.pages("/linkage/co-accused?limit=1000")
        self.pages("/linkage/co-accused?basis=allegation&min_shared=2&limit=1000")
        if ids:
            self.pages(f"/linkage/co-accused?officers={','.join(ids[:2])}&limit=1000")
        if inv_ids:
            self.pages(f"/linkage/co-accused?investigation={inv_ids[0]}&limit=1000")
        for question in ("outcome=dismissal", "result=misconduct-proven", *(f"officer={i}" for i in ids[:2])):
            self.pages(f"/linkage/shared-groups?{question}&limit=1000")
        self.pages("/linkage/bystanders?limit=1000")
        if len(ids) >= 2:
            self.pages(f"/linkage/path?from={ids[0]}&to={ids[1]}&limit=5")
            self.pages(f"/linkage/path?from={ids[0]}&to={ids[-1]}&kinds=co-accused&limit=5")
            self.json(f"/linkage/connecting-network?officers={','.join(ids[:3])}")
        if inv_ids and ids:
            self.pages(f"/linkage/path?from={ids[0]}&to={inv_ids[0]}&projection=full&limit=3")
        for method in ("components", "louvain&seed=0", "k-core&k=2"):
            self.pages(f"/linkage/clusters?method={method}&limit=1000")
        for measure in ("degree", "betweenness&sample=30&seed=0"):
            self.pages(f"/linkage/centrality?measure={measure}&top=200&limit=1000")

    def exports(self, ids: list[str], inv_ids: list[str], groups: list[str], inquiries: list[str]) -> None:
        views = ["officers", *(f"officer/{i}" for i in ids[:2]), *(f"investigation/{i}" for i in inv_ids[:2]),
                 *(f"chat-group/{g}" for g in groups[:1]), *(f"inquiry/{i}" for i in inquiries[:1])]
        if self.full_exports:
            views.insert(0, "full")
        for view in views:
            for fmt in FORMATS:
                self.fetch(f"/export/{view}.{fmt}")
            self.fetch(f"/export/{view}.manifest.json?format=ttl")
        self.fetch("/export/officers.graphml?flavour=yed&kinds=co-accused&min_weight=2")

    def errors(self, ids: list[str], inv_ids: list[str]) -> None:
        """Problem answers to a reader's own mistakes (they may echo what the reader sent, nothing more)."""
        self.fetch("/officers/no-such-officer", expect=404)
        self.fetch("/chat-groups/no-such-group", expect=404)  # the route, where the data hold no group
        self.fetch("/officers?cursor=not-a-cursor", expect=400)
        self.fetch("/officers?limit=0", expect=400)
        self.fetch("/linkage/centrality?measure=nope", expect=400)
        self.fetch("/export/nope.graphml", expect=400)
        if self.is_reader:  # what only investigators may ask
            self.fetch("/export/query/inquiry-network.ttl?inquiry=x", expect=403)
            self.fetch("/sparql?query=SELECT%20*%20WHERE%20%7B%3Fs%20%3Fp%20%3Fo%7D", expect=403)
            self.fetch("/queries", expect=403)
        if ids:
            self.fetch(f"/linkage/path?from={ids[0]}", expect=400)
            self.fetch(f"/linkage/co-accused?investigation={ids[0]}", expect=404)
            self.fetch(f"/export/investigation/{ids[0]}.ttl", expect=404)
        if inv_ids:
            self.fetch(f"/officers/{inv_ids[0]}", expect=404)
