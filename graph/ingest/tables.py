"""The project's tabular format as data: a folder of CSV files, one per kind of record.

:data:`TABLES` is the whole format: files, columns, what each column means and the rule it follows.
The converter (:mod:`graph.ingest.converter`), the mapping checks (:mod:`graph.ingest.mapping`) and the
reference part of ``docs/data-format.md`` (:mod:`graph.ingest.reference`) all read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property

from rdflib import URIRef
from rdflib.namespace import SKOS

from ontology import OV

__all__ = ["Column", "Table", "TABLES", "CONCEPT_CLASSES", "CLASS_NAMES", "LOCAL", "SCHEME_NAME", "PERSONAL", "TYPE_VALUES", "AGENT_KINDS", "ORG_KINDS", "IDENTIFIER"]

_XSD = "http://www.w3.org/2001/XMLSchema#"
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?\Z")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?\Z")
_INT = re.compile(r"^[+-]?\d+\Z")
_BOOL = {"true": "true", "false": "false", "yes": "true", "no": "false", "1": "true", "0": "false"}
AGENT_KINDS = ("officer", "staff", "person")
ORG_KINDS = ("organisation",)
PERSONAL = "names.csv"  # the one table of personal data: loads as a source of its own


@dataclass(frozen=True)
class Column:
    """One CSV column.

    `kind` is one of: ``key``, ``text``, ``integer``, ``boolean``, ``date``
    (YYYY, YYYY-MM or YYYY-MM-DD), ``datetime`` (ISO 8601, or a partial date),
    ``url``, ``ref`` (a key of another table; `refs` lists the kinds it may
    name, the first being the default unless `kind_required`), ``concept`` (a notation of the
    concept class `concept`) or ``evidence``.
    """

    name: str
    kind: str
    help: str
    predicate: URIRef | None = None
    required: bool = False
    many: bool = False
    refs: tuple[str, ...] = ()
    concept: URIRef | None = None
    kind_required: bool = False  # refs must be written KIND:KEY (no default kind)

    def split_ref(self, raw: str) -> tuple[str | None, str]:
        """A ref cell's ``KIND:KEY`` as (the kind it names, or None when it names none of :attr:`refs`; the key)."""
        prefix, sep, rest = raw.partition(":")
        return (prefix, rest) if sep and prefix in self.refs else (None, raw)

    @cached_property
    def names_finding(self) -> bool:
        """An allegation key standing for the finding of the row's officer on it (sanctions, barred list)."""
        return self.predicate == OV.finding


@dataclass(frozen=True)
class Table:
    """One CSV file: the class of its rows, the IRI kind they are minted under, its columns."""

    file: str
    kind: str
    help: str
    columns: tuple[Column, ...]
    rdf_type: URIRef | None = None
    type_column: str | None = None  # a column whose value chooses the class
    key_from: tuple[str, ...] = ()  # link tables: the key is these cells joined by '|'
    about: str | None = None  # a ref column: rows describe the entity it names (no node, no class of their own)

    @cached_property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}


def _key(help: str = "The row's key, unique in the file; other files refer to the row by it.") -> Column:
    return Column("key", "key", help, OV.identifier, required=True)


def _source(required: bool = True) -> Column:
    return Column("source", "ref", "Keys of rows of sources.csv that support this row, separated by ';'.",
                  OV.source, required=required, many=True, refs=("source-document",))


_EVIDENCE = Column("evidence", "evidence",
                   "reported (default), illustrative (chosen to fit reported figures, never to be shown as fact)"
                   " or unconfirmed.", OV.evidenceStatus)
_START = Column("start", "date", "Start of the interval.", OV.startDate)
_END = Column("end", "date", "End of the interval; empty while it is open.", OV.endDate)


def _agent(name: str, help: str, predicate: URIRef, *, required: bool = False, many: bool = False) -> Column:
    return Column(name, "ref", help + " A key of officers.csv, or staff:KEY or person:KEY.",
                  predicate, required=required, many=many, refs=AGENT_KINDS)


def _org(name: str, help: str, predicate: URIRef, *, required: bool = False, many: bool = False) -> Column:
    return Column(name, "ref", help + " A key of organisations.csv or units.csv.",
                  predicate, required=required, many=many, refs=ORG_KINDS)


def _match(name: str, help: str, predicate: URIRef) -> Column:
    return Column(name, "match", help + " Notations of the row's class, or SCHEME|NOTATION of other rows of this"
                  " file, separated by ';'.", predicate, many=True)


#: The classes of values a local vocabulary's concepts may be (``concepts.csv`` ``class``), by name: those whose
#: filters follow SKOS links (``Facts.admitted``) or that are only shown. Investigation and employment statuses
#: and evidence statuses carry fixed meanings the linkage layer acts on (an investigation concluded, an officer
#: dismissed), so they take the ontology's notations only.
CONCEPT_CLASSES = {
    "allegation-category": OV.AllegationCategory, "finding-result": OV.FindingResult, "outcome": OV.Outcome,
    "rank": OV.Rank, "person-role": OV.PersonRole, "message-category": OV.MessageCategory, "platform": OV.Platform,
}
CLASS_NAMES = {cls: name for name, cls in CONCEPT_CLASSES.items()}  # the other way: class -> its name
LOCAL = "|"  # a concept cell's SCHEME|NOTATION: a concept of a local vocabulary (concepts.csv)
SCHEME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*\Z")  # a local scheme's name

TABLES: tuple[Table, ...] = (
    Table("sources.csv", "source-document", "Documents that rows cite. Every other file's `source` refers here.", (
        _key(), Column("title", "text", "Title of the document.", OV.title, required=True),
        _org("publisher", "Who published it.", OV.publisher),
        Column("date", "date", "Publication date.", OV.date),
        Column("url", "url", "Where it can be read (recorded, never fetched).", OV.url),
        Column("licence", "text", "Licence or terms of use.", OV.licence),
    ), rdf_type=OV.SourceDocument),
    Table("concepts.csv", "concept", "A dataset's own code lists (local vocabularies): each row is a SKOS concept "
          "of the scheme it names, kept with the source's own notation and mapped onto the ontology's concepts, so "
          "that linkage filters on core concepts count it and the source's value is never lost. A concept cell of "
          "another file names one as `SCHEME|NOTATION`.", (
        Column("scheme", "scheme", "The local scheme (code list), such as `cpdp-category`: letters, digits and "
               "dashes. Name it after the dataset: the scheme and its concepts are shared by every source that "
               "names it.", SKOS.inScheme, required=True),
        Column("notation", "text", "The source's own code or value, as the source writes it.", SKOS.notation,
               required=True),
        Column("class", "class", "What the concepts are values of.", None, required=True),
        Column("label", "text", "A human label (default: the notation).", SKOS.prefLabel),
        Column("definition", "text", "What the code means, in your own words.", SKOS.definition),
        Column("broader", "match", "A broader concept of the same scheme: its notation.", SKOS.broader),
        _match("exact_match", "Concepts it means exactly.", SKOS.exactMatch),
        _match("close_match", "Concepts it means nearly.", SKOS.closeMatch),
        _match("broad_match", "Broader concepts it falls under (a filter on them counts it).", SKOS.broadMatch),
        _match("narrow_match", "Narrower concepts it covers.", SKOS.narrowMatch),
        _source(),
    ), rdf_type=SKOS.Concept, type_column="class", key_from=("scheme", "notation")),
    Table("organisations.csv", "organisation", "Forces, oversight bodies and other organisations.", (
        _key(), Column("type", "text", "force, oversight-body or organisation.", None, required=True),
        Column("name", "text", "The organisation's name.", OV.name, required=True),
        _org("part_of", "The organisation it belongs to.", OV.partOf), _source(),
    ), type_column="type"),
    Table("units.csv", "organisation", "Units, teams and commands inside a force (same keys as organisations).", (
        _key(), Column("name", "text", "The unit's name.", OV.name, required=True),
        _org("part_of", "The force or unit it belongs to.", OV.partOf),
        Column("disbanded", "boolean", "true when the unit no longer exists.", OV.isDisbanded), _source(),
    ), rdf_type=OV.Unit),
    Table("stations.csv", "station", "Police stations and other sites.", (
        _key(), Column("name", "text", "The station's name.", OV.name, required=True),
        _org("part_of", "The force that runs it.", OV.partOf), _source(),
    ), rdf_type=OV.Station),
    Table("officers.csv", "officer", "Police officers. Keys are opaque; names never go here (see `names.csv`).", (
        _key(), Column("pseudonym", "text", "Published pseudonym, such as 'Officer A'.", OV.pseudonym),
        _org("force", "The employing force.", OV.force), _source(),
    ), rdf_type=OV.Officer),
    Table("names.csv", "name", "Names of officers, staff and people: personal data. A folder with this file holds "
          "no other file but sources.csv, and loads as a source of its own (such as `chicago-cpdp-names`), so a "
          "deployment can leave names out or delete them without touching the rest. Names are never keys or IRIs, "
          "and pseudonymised views leave them out.", (
        Column("of", "ref", "Who is named: a key of officers.csv (in another source), or staff:KEY or person:KEY.",
               required=True, refs=AGENT_KINDS),
        Column("name", "text", "The name, as the dataset writes it.", OV.name, required=True), _source(),
    ), about="of"),
    Table("staff.csv", "staff", "Police staff and contractors in staff roles.", (
        _key(), Column("pseudonym", "text", "Published pseudonym.", OV.pseudonym),
        _org("force", "The employing force.", OV.force), _source(),
    ), rdf_type=OV.PoliceStaff),
    Table("people.csv", "person", "Members of the public in a case: complainants, victims, witnesses (pseudonymous).", (
        _key(), Column("pseudonym", "text", "How the person is referred to, such as 'Person 1'.", OV.pseudonym),
        Column("roles", "concept", "Roles, separated by ';'.", OV.personRole, many=True, concept=OV.PersonRole),
        _source(),
    ), rdf_type=OV.Person),
    Table("roles.csv", "role", "Positions in organisations, recorded instead of the people who hold them.", (
        _key(), Column("title", "text", "The role, such as 'Director'.", OV.title, required=True),
        _org("organisation", "The organisation the role is in.", OV.roleIn, required=True), _source(),
    ), rdf_type=OV.Role),
    Table("postings.csv", "posting", "Who was posted where, at which rank, when.", (
        _agent("officer", "Who was posted.", OV.officer, required=True),
        _org("unit", "The unit.", OV.unit),
        Column("station", "ref", "A key of stations.csv.", OV.station, refs=("station",)),
        Column("rank", "concept", "Rank held.", OV.rank, concept=OV.Rank),
        _START, _END, _EVIDENCE, _source(),
    ), rdf_type=OV.Posting, key_from=("officer", "unit", "station", "rank", "start")),
    Table("chat_groups.csv", "chat-group", "Chat groups on messaging platforms.", (
        _key(), Column("name", "text", "A neutral description of the group.", OV.name),
        Column("platform", "concept", "The platform.", OV.platform, required=True, concept=OV.Platform),
        Column("reported_member_count", "integer", "Members the source reports.", OV.reportedMemberCount),
        _source(),
    ), rdf_type=OV.ChatGroup),
    Table("memberships.csv", "chat-membership", "Who was in which chat group, when.", (
        _agent("member", "The member.", OV.member, required=True),
        Column("group", "ref", "A key of chat_groups.csv.", OV.group, required=True, refs=("chat-group",)),
        Column("admin", "boolean", "true when the member administered the group.", OV.isAdmin),
        _START, _END, _EVIDENCE, _source(),
    ), rdf_type=OV.ChatMembership, key_from=("member", "group", "start")),
    Table("messages.csv", "message", "Messages sent to chat groups, described by category; content optional.", (
        _key(), Column("group", "ref", "A key of chat_groups.csv.", OV.group, required=True, refs=("chat-group",)),
        _agent("sender", "Who sent it.", OV.sender),
        Column("sent_at", "datetime", "When it was sent.", OV.sentAt),
        Column("categories", "concept", "Content categories, separated by ';'.", OV.contentCategory,
               many=True, concept=OV.MessageCategory),
        Column("content", "text", "The text. Sensitive: leave empty unless it must be held.", OV.content),
        _EVIDENCE, _source(),
    ), rdf_type=OV.Message),
    Table("inquiries.csv", "inquiry", "Inquiries or operations that group linked investigations.", (
        _key(), Column("title", "text", "A neutral title.", OV.title, required=True),
        _org("body", "Who runs the inquiry.", OV.investigatingBody),
        Column("conduct_from", "date", "When the conduct examined began.", OV.conductFrom),
        Column("conduct_to", "date", "When the conduct examined ended.", OV.conductTo),
        Column("uncovered", "date", "When the conduct came to light.", OV.uncoveredOn),
        _START, _END, _EVIDENCE, _source(),
    ), rdf_type=OV.Inquiry),
    Table("investigations.csv", "investigation", "Conduct investigations.", (
        _key(), Column("title", "text", "A neutral title.", OV.title),
        Column("status", "concept", "Investigation status.", OV.status, required=True,
               concept=OV.InvestigationStatus),
        _org("body", "The investigating body.", OV.investigatingBody),
        Column("inquiry", "ref", "A key of inquiries.csv.", OV.inquiry, refs=("inquiry",)),
        Column("linked_to", "ref", "Keys of linked investigations, separated by ';'.", OV.linkedTo,
               many=True, refs=("investigation",)),
        Column("description", "text", "A short description in your own words.", OV.description),
        Column("occurred", "date", "When the incident complained of happened (an instant): the conduct date of "
               "each of its allegations that has no date of its own.", OV.occurredOn),
        Column("received", "date", "When the complaint was made or received (an instant; the conduct came "
               "before).", OV.receivedOn),
        Column("start", "date", "When the investigation opened.", OV.startDate),
        Column("end", "date", "When the investigation closed. A concluded or discontinued investigation without "
               "one is never taken to be still open.", OV.endDate),
        _EVIDENCE, _source(),
    ), rdf_type=OV.Investigation),
    Table("allegations.csv", "allegation", "Allegations; the officers they concern are listed in findings.csv.", (
        _key(), Column("investigation", "ref", "A key of investigations.csv.", OV.investigation, required=True,
                       refs=("investigation",)),
        Column("categories", "concept", "Allegation categories, separated by ';'.", OV.category,
               many=True, concept=OV.AllegationCategory),
        Column("description", "text", "A short description in your own words.", OV.description),
        _agent("victims", "Who the conduct was directed at, separated by ';'.", OV.victim, many=True),
        _agent("complainants", "Who complained, separated by ';'.", OV.complainant, many=True),
        Column("concerns", "ref", "For a failure to report or challenge: keys of the allegations whose conduct "
               "it was, separated by ';'.", OV.concerns, many=True, refs=("allegation",)),
        Column("occurred", "date", "When the conduct happened, as an instant (the incident date). Conduct that "
               "lasted: start and end instead.", OV.occurredOn),
        Column("start", "date", "When conduct that lasted began.", OV.startDate),
        Column("end", "date", "When that conduct ended; empty while it continues.", OV.endDate),
        _EVIDENCE, _source(),
    ), rdf_type=OV.Allegation),
    Table("findings.csv", "finding", "One row per officer per allegation: that the officer was a subject, and "
          "the result and outcome once decided.", (
        _agent("officer", "The subject of the allegation.", OV.officer, required=True),
        Column("allegation", "ref", "A key of allegations.csv.", OV.allegation, required=True,
               refs=("allegation",)),
        Column("result", "concept", "The finding's result; empty while undecided.", OV.result,
               concept=OV.FindingResult),
        Column("outcomes", "concept", "Outcomes for the officer, separated by ';'.", OV.outcome,
               many=True, concept=OV.Outcome),
        _org("decided_by", "The body that decided.", OV.decidedBy),
        Column("date", "date", "When it was decided.", OV.date), _EVIDENCE, _source(),
    ), rdf_type=OV.Finding, key_from=("allegation", "officer")),
    Table("sanctions.csv", "sanction", "Sanctions as dated records of their own (optional; outcomes on findings "
          "are enough for linkage).", (
        _agent("officer", "Who was sanctioned.", OV.officer, required=True),
        Column("outcome", "concept", "The sanction.", OV.outcome, required=True, concept=OV.Outcome),
        Column("allegation", "ref", "The allegation whose finding (for this officer) it follows from.",
               OV.finding, refs=("allegation",)),
        _org("decided_by", "Who imposed it.", OV.decidedBy), Column("date", "date", "When.", OV.date),
        _EVIDENCE, _source(),
    ), rdf_type=OV.Sanction, key_from=("officer", "outcome", "allegation", "date")),
    Table("barred_list.csv", "barred-list-entry", "Entries on the police barred list.", (
        _agent("officer", "Who was barred.", OV.officer, required=True),
        Column("allegation", "ref", "The allegation whose finding (for this officer) led to the entry.",
               OV.finding, refs=("allegation",)),
        _org("force", "The force that made the entry.", OV.force),
        Column("date", "date", "When.", OV.date), _EVIDENCE, _source(),
    ), rdf_type=OV.BarredListEntry, key_from=("officer", "allegation")),
    Table("statuses.csv", "employment-status", "Employment status history.", (
        _agent("officer", "Whose status.", OV.officer, required=True),
        Column("status", "concept", "The status.", OV.status, required=True, concept=OV.EmploymentStatusValue),
        _START, _END, _EVIDENCE, _source(),
    ), rdf_type=OV.EmploymentStatus, key_from=("officer", "status", "start")),
    Table("reports.csv", "report", "Published reports.", (
        _key(), Column("title", "text", "The report's title.", OV.title, required=True),
        _org("publisher", "Who published it.", OV.publisher),
        Column("date", "date", "Publication date.", OV.date),
        Column("about", "ref", "A key of inquiries.csv.", OV.about, refs=("inquiry",)),
        Column("url", "url", "Where it can be read.", OV.url), _source(),
    ), rdf_type=OV.Report),
    Table("recommendations.csv", "recommendation", "Recommendations made in reports.", (
        Column("report", "ref", "A key of reports.csv.", OV.report, required=True, refs=("report",)),
        Column("number", "integer", "Its number in the report.", OV.number, required=True),
        _org("addressed_to", "Who it is made to, separated by ';'.", OV.addressedTo, many=True),
        Column("description", "text", "A summary in your own words.", OV.description),
        _EVIDENCE, _source(),
    ), rdf_type=OV.Recommendation, key_from=("report", "number")),
    Table("events.csv", "event", "Dated events for timelines.", (
        _key(), Column("description", "text", "What happened, in your own words.", OV.description, required=True),
        Column("date", "date", "When (a year or a month is enough).", OV.date),
        Column("involves", "ref", "What it involves, as KIND:KEY (officer:A, investigation:I1...), "
               "separated by ';'.", OV.involves, many=True,
               refs=("officer", "staff", "person", "organisation", "station", "investigation", "inquiry",
                     "allegation", "chat-group", "report"), kind_required=True),
        Column("about", "ref", "The inquiry or investigation it belongs to, as KIND:KEY.", OV.about,
               refs=("inquiry", "investigation"), kind_required=True),
        _START, _END, _EVIDENCE, _source(),
    ), rdf_type=OV.Event),
)


#: The identifier shown for a row when its key is not it: a mapping writes keys scoped by its dataset
#: (``chicago-cpdp/1234``), so that another dataset's officer 1234 is another officer, and the source's own
#: identifier here. Every table with a ``key`` column takes it.
IDENTIFIER = Column("identifier", "text", "The identifier to show for the row, when it is not its key (a mapping's "
                    "keys carry their dataset, such as `chicago-cpdp/1234`); empty: the key.", None)
TABLES = tuple(replace(t, columns=(*t.columns, IDENTIFIER))
               if any(c.kind == "key" for c in t.columns) else t for t in TABLES)

_ORGTYPE_VALUES = {"force": OV.Force, "oversight-body": OV.OversightBody, "organisation": OV.Organisation}
TYPE_VALUES = {"organisations.csv": _ORGTYPE_VALUES, "concepts.csv": CONCEPT_CLASSES}  # a type_column's accepted values

