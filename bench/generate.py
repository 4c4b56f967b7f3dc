"""Seeded synthetic generator of misconduct knowledge graphs, as N-Triples valid against the shapes.

Usage::

    python bench/generate.py --triples 1000000 --seed 1 -o bench/out/synthetic-1000000-s1.nt

Writes exactly N triples (N >= 1000), line by line, deterministically for a seed.
The mix follows the scale quoted for the load benchmark ("1.6 M triples of the
synthetic generator (100k officers, 50k investigations)"): one officer per 16
triples and one investigation per 32, whatever N. Around them: source
documents, forces, units, stations, postings, chat groups, chat memberships
and messages (the messages absorb the last few triples so the count is exact).

Every allegation has one or more findings (co-accusal), and a fifth of the
officers, the "repeat" pool, draw about 40% of all findings, so many officers
are subjects of allegations in two or more investigations.

IRIs follow the project's minting style: ``https://w3id.org/oversight/id/{kind}/{20 hex}``.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from pathlib import Path
from typing import TextIO

__all__ = ["INVESTIGATIONS_PER_TRIPLE", "MIN_TRIPLES", "OFFICERS_PER_TRIPLE", "generate"]

OV = "https://w3id.org/oversight/ontology#"
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
BASE = "https://w3id.org/oversight/id/"

OFFICERS_PER_TRIPLE = 100_000 / 1_600_000
INVESTIGATIONS_PER_TRIPLE = 50_000 / 1_600_000
MIN_TRIPLES = 1000


def _p(local: str) -> str:
    return f"<{OV}{local}>"


# Predicates and concepts, pre-rendered.
P = {name: _p(name) for name in (
    "identifier", "name", "pseudonym", "title", "source", "evidenceStatus", "force", "partOf",
    "officer", "unit", "station", "rank", "startDate", "endDate", "date", "status", "investigation",
    "category", "allegation", "result", "outcome", "platform", "reportedMemberCount", "member", "group",
    "isAdmin", "sender", "sentAt", "contentCategory", "licence", "investigatingBody", "decidedBy",
)}
C = {name: _p(name) for name in (
    "SourceDocument", "Force", "Unit", "Station", "Officer", "Posting", "Investigation", "Allegation",
    "Finding", "ChatGroup", "ChatMembership", "Message",
)}
REPORTED = _p("Reported")
OPEN = _p("Open")
EVIDENCE = [_p("Reported")] * 8 + [_p("Unconfirmed"), _p("Illustrative")]
CATEGORIES = [_p(c) for c in (
    "Discrimination", "Misogyny", "SexualHarassment", "SexualMisconduct", "BullyingAndHarassment",
    "DiscreditableConduct", "HonestyAndIntegrity", "UseOfForce", "NeglectOfDuty", "Confidentiality",
    "EvidenceInterference", "DomesticAbuse", "DrugMisuse", "FailureToReport", "AuthorityRespectCourtesy",
)]
STATUSES = [_p("Concluded")] * 6 + [_p("Open")] * 3 + [_p("InvestigationDiscontinued")]
RESULTS = [_p(r) for r in ("GrossMisconductProven", "MisconductProven", "NotProven", "NoCaseToAnswer",
                           "Discontinued")]
OUTCOMES = [_p(o) for o in ("DismissalWithoutNotice", "FinalWrittenWarning", "WrittenWarning",
                            "ManagementAction", "ReflectivePractice", "WordsOfAdvice", "NoFurtherAction",
                            "LeftBeforeConclusion")]
RANKS = [_p("Constable")] * 6 + [_p("Sergeant")] * 3 + [_p(r) for r in ("Inspector", "ChiefInspector",
                                                                       "Superintendent")]
PLATFORMS = [_p("WhatsApp")] * 4 + [_p("Snapchat"), _p("Facebook"), _p("Telegram")]
MESSAGE_CATEGORIES = [_p(m) for m in ("MisogynistContent", "RacistContent", "HomophobicContent",
                                      "DisabilityDiscriminatoryContent", "SexualisedContent", "ViolentContent")]
TRUE = f'"true"^^<{XSD}boolean>'
FALSE = f'"false"^^<{XSD}boolean>'


def _lit(text: str) -> str:
    """A plain (xsd:string) literal; callers only pass text without quotes or backslashes."""
    return f'"{text}"'


class _Writer:
    """Counts and buffers triple lines; flushes to `out` in blocks."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0
        self.buf: list[str] = []

    def t(self, s: str, p: str, o: str) -> None:
        self.buf.append(f"{s} {p} {o} .\n")
        self.count += 1
        if len(self.buf) >= 8192:
            self.flush()

    def flush(self) -> None:
        self.out.write("".join(self.buf))
        self.buf.clear()


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed

    def iri(self, kind: str, i: int) -> str:
        digest = hashlib.sha256(f"{kind}\x1f{self.seed}\x1f{i}".encode()).hexdigest()[:20]
        return f"<{BASE}{kind}/{digest}>"

    def date(self, lo: int = 2005, hi: int = 2023) -> str:
        """A random date, year-month or year (mostly full dates)."""
        r = self.rng
        year = r.randint(lo, hi)
        kind = r.random()
        if kind < 0.75:
            return f'"{year:04d}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"^^<{XSD}date>'
        if kind < 0.92:
            return f'"{year:04d}-{r.randint(1, 12):02d}"^^<{XSD}gYearMonth>'
        return f'"{year:04d}"^^<{XSD}gYear>'

    def datetime(self) -> str:
        r = self.rng
        return (f'"{r.randint(2012, 2022):04d}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T'
                f'{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z"^^<{XSD}dateTime>')


def generate(triples: int, seed: int, out: TextIO) -> dict[str, int]:
    """Write exactly `triples` N-Triples lines to `out`; return counts by kind.

    Raises
    ------
    ValueError
        When `triples` is below :data:`MIN_TRIPLES`.
    """
    if triples < MIN_TRIPLES:
        raise ValueError(f"--triples must be at least {MIN_TRIPLES}")
    g = _Gen(seed)
    r = g.rng
    w = _Writer(out)
    counts: dict[str, int] = {}
    n_officers = max(4, round(triples * OFFICERS_PER_TRIPLE))
    n_investigations = max(2, round(triples * INVESTIGATIONS_PER_TRIPLE))
    n_sources = max(2, triples // 100_000)
    n_forces = max(1, min(43, round(triples / 40_000)))
    n_units = max(2, triples // 4_000)
    n_stations = max(2, triples // 8_000)
    n_groups = max(1, triples // 25_000)

    # Source documents: type, identifier, title, date, licence (5 each).
    sources = [g.iri("source-document", i) for i in range(n_sources)]
    for i, s in enumerate(sources):
        w.t(s, RDF_TYPE, C["SourceDocument"])
        w.t(s, P["identifier"], _lit(f"SYN-DOC-{i:05d}"))
        w.t(s, P["title"], _lit(f"Synthetic misconduct bulletin {i}"))
        w.t(s, P["date"], g.date(2015, 2024))
        w.t(s, P["licence"], _lit("CC0-1.0"))

    def src() -> str:
        return sources[r.randrange(n_sources)]

    def evidence() -> str:
        return EVIDENCE[r.randrange(len(EVIDENCE))]

    # Forces: type, identifier, name, source.
    forces = [g.iri("force", i) for i in range(n_forces)]
    for i, f in enumerate(forces):
        w.t(f, RDF_TYPE, C["Force"])
        w.t(f, P["identifier"], _lit(f"FORCE-{i:02d}"))
        w.t(f, P["name"], _lit(f"Synthetic Constabulary {i}"))
        w.t(f, P["source"], src())

    # Units and stations: type, identifier, name, partOf (a force), source.
    def sites(kind: str, cls: str, code: str, label: str, n: int) -> list[str]:
        nodes = [g.iri(kind, i) for i in range(n)]
        for i, node in enumerate(nodes):
            w.t(node, RDF_TYPE, C[cls])
            w.t(node, P["identifier"], _lit(f"{code}-{i:05d}"))
            w.t(node, P["name"], _lit(f"{label} {i}"))
            w.t(node, P["partOf"], forces[i % n_forces])
            w.t(node, P["source"], src())
        return nodes

    units = sites("unit", "Unit", "UNIT", "Response Team", n_units)
    stations = sites("station", "Station", "STN", "Station", n_stations)
    counts.update(source_documents=n_sources, forces=n_forces, units=n_units, stations=n_stations)

    # Officers: type, identifier, source, force; a pseudonym for one in ten.
    officers = [g.iri("officer", i) for i in range(n_officers)]
    for i, o in enumerate(officers):
        w.t(o, RDF_TYPE, C["Officer"])
        w.t(o, P["identifier"], _lit(f"OFF-{i:07d}"))
        w.t(o, P["source"], src())
        w.t(o, P["force"], forces[i % n_forces])
        if r.random() < 0.1:
            w.t(o, P["pseudonym"], _lit(f"Officer {i}"))
    counts["officers"] = n_officers

    # Investigations, each followed by its allegations and their findings.
    # A "repeat" pool (a fifth of the officers) draws 40% of findings.
    repeat_pool = max(2, n_officers // 5)
    allegation_no = finding_no = 0
    subjects_seen: dict[int, int] = {}
    repeat_subjects = 0
    # Small outputs could overrun with bad luck: stop early, keeping room for the rest (never hit >= 1e4).
    core_cap = triples - max(60, triples // 20)
    for i in range(n_investigations):
        if w.count > core_cap:
            n_investigations = i
            break
        inv = g.iri("investigation", i)
        status = STATUSES[r.randrange(len(STATUSES))]
        w.t(inv, RDF_TYPE, C["Investigation"])
        w.t(inv, P["identifier"], _lit(f"INV-{i:07d}"))
        w.t(inv, P["status"], status)
        w.t(inv, P["evidenceStatus"], REPORTED)
        w.t(inv, P["source"], src())
        w.t(inv, P["startDate"], g.date(2008, 2021))
        if status != OPEN and r.random() < 0.4:
            w.t(inv, P["endDate"], g.date(2021, 2023))
        n_alleg = 1 if r.random() < 0.92 else r.randint(2, 3)
        # The investigation's subjects: usually one officer, sometimes co-accused.
        k = 1 if r.random() < 0.85 else r.randint(2, 3)
        subjects = {r.randrange(repeat_pool) if r.random() < 0.4 else r.randrange(n_officers) for _ in range(k)}
        for s_idx in subjects:
            seen = subjects_seen.get(s_idx, 0)
            if seen == 1:
                repeat_subjects += 1
            subjects_seen[s_idx] = seen + 1
        for _ in range(n_alleg):
            a = g.iri("allegation", allegation_no)
            w.t(a, RDF_TYPE, C["Allegation"])
            w.t(a, P["identifier"], _lit(f"ALG-{allegation_no:07d}"))
            w.t(a, P["investigation"], inv)
            w.t(a, P["category"], CATEGORIES[r.randrange(len(CATEGORIES))])
            w.t(a, P["evidenceStatus"], evidence())
            w.t(a, P["source"], src())
            allegation_no += 1
            for s_idx in sorted(subjects):
                f = g.iri("finding", finding_no)
                finding_no += 1
                w.t(f, RDF_TYPE, C["Finding"])
                w.t(f, P["officer"], officers[s_idx])
                w.t(f, P["allegation"], a)
                w.t(f, P["evidenceStatus"], evidence())
                w.t(f, P["source"], src())
                if status != OPEN:
                    w.t(f, P["result"], RESULTS[r.randrange(len(RESULTS))])
                    if r.random() < 0.5:
                        w.t(f, P["outcome"], OUTCOMES[r.randrange(len(OUTCOMES))])
    counts.update(investigations=n_investigations, allegations=allegation_no, findings=finding_no,
                  officers_in_2plus_investigations=repeat_subjects)

    # What is left: a share for postings, then chat groups, memberships and messages.
    left = triples - w.count
    if left < 40:
        raise RuntimeError(f"core entities used {w.count} of {triples} triples; too few left for the rest")

    # Postings: type, officer, unit or station (or both), rank, startDate, endDate?, source, evidenceStatus.
    posting_budget = w.count + left // 2
    n_postings = 0
    while w.count + 10 <= posting_budget:
        p = g.iri("posting", n_postings)
        n_postings += 1
        w.t(p, RDF_TYPE, C["Posting"])
        w.t(p, P["officer"], officers[r.randrange(n_officers)])
        where = r.random()
        if where < 0.7:
            w.t(p, P["unit"], units[r.randrange(n_units)])
        if where > 0.4:
            w.t(p, P["station"], stations[r.randrange(n_stations)])
        w.t(p, P["rank"], RANKS[r.randrange(len(RANKS))])
        w.t(p, P["startDate"], g.date(2000, 2015))
        if r.random() < 0.5:
            w.t(p, P["endDate"], g.date(2016, 2023))
        w.t(p, P["source"], src())
        w.t(p, P["evidenceStatus"], evidence())
    counts["postings"] = n_postings

    # Chat groups: type, identifier, name, platform, reportedMemberCount, source (6 each).
    groups = [g.iri("chat-group", i) for i in range(n_groups)]
    for i, cg in enumerate(groups):
        w.t(cg, RDF_TYPE, C["ChatGroup"])
        w.t(cg, P["identifier"], _lit(f"CHAT-{i:04d}"))
        w.t(cg, P["name"], _lit(f"Team chat {i}"))
        w.t(cg, P["platform"], PLATFORMS[r.randrange(len(PLATFORMS))])
        w.t(cg, P["reportedMemberCount"], f'"{r.randint(5, 40)}"^^<{XSD}integer>')
        w.t(cg, P["source"], src())
    counts["chat_groups"] = n_groups

    # Memberships (type, member, group, isAdmin, startDate, source, evidenceStatus): a third of what is left.
    membership_budget = w.count + (triples - w.count) // 3
    n_members = 0
    while w.count + 7 <= membership_budget:
        m = g.iri("chat-membership", n_members)
        n_members += 1
        w.t(m, RDF_TYPE, C["ChatMembership"])
        w.t(m, P["member"], officers[r.randrange(repeat_pool) if r.random() < 0.5 else r.randrange(n_officers)])
        w.t(m, P["group"], groups[r.randrange(n_groups)])
        w.t(m, P["isAdmin"], TRUE if r.random() < 0.08 else FALSE)
        w.t(m, P["startDate"], g.date(2012, 2020))
        w.t(m, P["source"], src())
        w.t(m, P["evidenceStatus"], evidence())
    counts["chat_memberships"] = n_members

    # Messages fill the rest exactly: 4 required triples (type, group, source, evidenceStatus), then
    # optional sender, sentAt and up to 6 distinct content categories (no sh:maxCount): 4..12 each.
    n_messages = 0
    while w.count < triples:
        left = triples - w.count
        if left <= 12:
            size = left
        else:
            size = r.randint(5, 7)
            if left - size < 4:
                size = left - 4
        msg = g.iri("message", n_messages)
        n_messages += 1
        w.t(msg, RDF_TYPE, C["Message"])
        w.t(msg, P["group"], groups[r.randrange(n_groups)])
        w.t(msg, P["source"], src())
        w.t(msg, P["evidenceStatus"], evidence())
        extra = size - 4
        if extra > 0:
            w.t(msg, P["sender"], officers[r.randrange(n_officers)])
            extra -= 1
        if extra > 0:
            w.t(msg, P["sentAt"], g.datetime())
            extra -= 1
        for cat in r.sample(MESSAGE_CATEGORIES, extra):
            w.t(msg, P["contentCategory"], cat)
    counts["messages"] = n_messages
    w.flush()
    assert w.count == triples, (w.count, triples)
    counts["triples"] = w.count
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triples", type=lambda v: int(float(v)), required=True,
                        help=f"how many triples to write (at least {MIN_TRIPLES}; 1e6 and 1.6e6 work)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="N-Triples file to write ('-': stdout)")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print counts to stderr")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if str(args.output) == "-":
        counts = generate(args.triples, args.seed, sys.stdout)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.output.with_name(args.output.name + ".part")
        with tmp.open("w", encoding="utf-8", newline="\n", buffering=1 << 20) as out:
            counts = generate(args.triples, args.seed, out)
        tmp.replace(args.output)
    if not args.quiet:
        elapsed = time.perf_counter() - started
        print(" ".join(f"{k}={v}" for k, v in counts.items()) + f" seconds={elapsed:.2f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
