"""Officers, investigations and chat groups as investigators read them: listings, details and timelines.

Every item carries its evidence (the statement it rests on, its status and sources).
"""

from __future__ import annotations

from dataclasses import dataclass

from graph.errors import NotFound
from graph.linkage.facts import (
    OFFICER_CLASSES,
    Evidence,
    Facts,
    lower,
)
from graph.linkage.questions import Ref, StatusAt, caveats, ref

__all__ = ["OfficerSummary", "OfficerDetail", "InvestigationSummary", "InvestigationDetail", "ChatGroupDetail",
           "Subject", "AllegationItem", "Posting", "Membership", "Barred", "TimelineEvent", "MessageItem",
           "entity", "list_officers", "officer_detail", "list_investigations", "investigation_detail",
           "list_chat_groups", "chat_group_detail", "timeline", "TIMELINE_KINDS"]

#: URL kind -> classes an id of that kind may name.
TIMELINE_KINDS = {"officers": OFFICER_CLASSES, "investigations": ("Investigation",), "chat-groups": ("ChatGroup",)}


def entity(f: Facts, kind: str, local: str) -> str:
    """The IRI of the `kind` (``officers``, ``investigations``, ``chat-groups``) whose local id is `local`.

    Parameters
    ----------
    f : Facts
        The facts (the real ones, or a view's).
    kind : str
        A key of :data:`TIMELINE_KINDS`, which gives the classes the entity may be of.
    local : str
        The id: the local part of the entity's IRI.

    Raises
    ------
    NotFound
        When no entity of that kind has the id.
    """
    found = f.find(local, *TIMELINE_KINDS[kind])
    if found is None:
        raise NotFound(f"no {kind[:-1].replace('-', ' ')} with id {local!r}")
    return found


def _opt(f: Facts, iri: str | None) -> Ref | None:
    return ref(f, iri) if iri else None


def _notations(f: Facts, iris: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(f.concept(i).notation for i in iris))


def _current_status(f: Facts, officer: str) -> tuple[str, ...]:
    return _notations(f, tuple(f.value(n, "status") or "" for n in f.referrers(officer, "officer")
                            if f.is_a(n, "EmploymentStatus") and not f.value(n, "endDate")))


# --------------------------------------------------------------------------- officers
@dataclass(frozen=True)
class OfficerSummary:
    """An officer in a listing: current status and counts of investigations and allegations."""

    officer: Ref
    status: tuple[str, ...]  # current employment status(es)
    investigation_count: int
    allegation_count: int
    outcomes: tuple[str, ...]


def _summary(f: Facts, officer: str) -> OfficerSummary:
    findings = f.findings_of(officer)
    return OfficerSummary(ref(f, officer), _current_status(f, officer),
                          len({f.investigation_of(x) for x in findings} - {None}),
                          len({f.value(x, "allegation") for x in findings} - {None}),
                          _notations(f, tuple({o for x in findings for o in f.values(x, "outcome")})))


def list_officers(f: Facts, *, station: str | None = None, status: str | None = None,
                  outcome: str | None = None, category: str | None = None) -> list[OfficerSummary]:
    """Officers and staff, by IRI, optionally only those ever posted to `station`, with current employment
    `status`, with a finding of `outcome`, or a subject of an allegation of `category` (concept IRIs).

    Parameters
    ----------
    f : Facts
        The facts (the real ones, or a view's).
    station : IRI, optional
        Keep officers with a posting at this station, at any time.
    status : IRI, optional
        Keep officers with an employment status of this concept and no end date (the concept itself only).
    outcome : IRI, optional
        Keep officers with a finding of this outcome, or of a narrower or matching one (:meth:`Facts.admitted`).
    category : IRI, optional
        Keep officers who are subjects of a finding on an allegation of this category, or of a narrower or
        matching one.
    """
    out = []
    wanted = f.admitted(frozenset({category})) if category else frozenset()
    outcomes = f.admitted(frozenset({outcome})) if outcome else frozenset()
    for officer in f.of_type(*OFFICER_CLASSES):
        if station and not any(station in f.values(p, "station") for p in f.referrers(officer, "officer")
                               if f.is_a(p, "Posting")):
            continue
        if status and not any(f.value(n, "status") == status and not f.value(n, "endDate")
                              for n in f.referrers(officer, "officer") if f.is_a(n, "EmploymentStatus")):
            continue
        findings = f.findings_of(officer)
        if outcome and all(outcomes.isdisjoint(f.values(x, "outcome")) for x in findings):
            continue
        if category and not any(wanted.intersection(f.categories_of(f.value(x, "allegation") or ""))
                                for x in findings):
            continue
        out.append(_summary(f, officer))
    return out


@dataclass(frozen=True)
class AllegationItem:
    """An allegation an officer is a subject of, with the finding and outcomes for that officer."""

    allegation: Ref
    investigation: Ref | None
    categories: tuple[str, ...]
    result: str | None
    outcomes: tuple[str, ...]
    evidence: Evidence


@dataclass(frozen=True)
class Posting:
    """A posting: unit, station, rank and dates."""

    unit: Ref | None
    station: Ref | None
    rank: str | None
    start: str | None
    end: str | None
    evidence: Evidence


@dataclass(frozen=True)
class Membership:
    """A chat-group membership with its dates."""

    group: Ref
    member: Ref
    is_admin: bool
    start: str | None
    end: str | None
    evidence: Evidence


@dataclass(frozen=True)
class Barred:
    """A barred-list entry."""

    allegation: Ref | None
    force: Ref | None
    date: str | None
    evidence: Evidence


@dataclass(frozen=True)
class OfficerDetail:
    """Everything recorded about an officer, each item with its evidence."""

    officer: Ref
    pseudonym: str | None
    force: Ref | None
    status: tuple[str, ...]
    postings: tuple[Posting, ...]
    allegations: tuple[AllegationItem, ...]
    investigations: tuple[Ref, ...]
    memberships: tuple[Membership, ...]
    statuses: tuple[StatusAt, ...]
    barred_list: tuple[Barred, ...]
    caveats: tuple[str, ...]


def _membership(f: Facts, node: str) -> Membership:
    start, end = f.interval(node)
    return Membership(ref(f, f.value(node, "group") or ""), ref(f, f.value(node, "member") or ""),
                      f.value(node, "isAdmin") in ("true", "1"), start, end, f.evidence(node))


def officer_detail(f: Facts, officer: str) -> OfficerDetail:
    """Everything recorded about `officer`, each item with its evidence.

    Parameters
    ----------
    f : Facts
        The facts (the real ones, or a view's).
    officer : IRI
        The officer or member of police staff (:func:`entity`).
    """
    linked = f.referrers(officer, "officer")
    postings, allegations, statuses, barred = [], [], [], []
    for node in linked:
        if f.is_a(node, "Posting"):
            start, end = f.interval(node)
            rank = f.value(node, "rank")
            postings.append(Posting(_opt(f, f.value(node, "unit")), _opt(f, f.value(node, "station")),
                                    f.concept(rank).notation if rank else None, start, end, f.evidence(node)))
        elif f.is_a(node, "Finding"):
            allegation = f.value(node, "allegation") or ""
            result = f.value(node, "result")
            allegations.append(AllegationItem(ref(f, allegation), _opt(f, f.investigation_of(node)),
                                              _notations(f, f.categories_of(allegation)),
                                              f.concept(result).notation if result else None,
                                              _notations(f, f.values(node, "outcome")), f.evidence(node)))
        elif f.is_a(node, "EmploymentStatus"):
            start, end = f.interval(node)
            statuses.append(StatusAt(f.concept(f.value(node, "status") or "").notation, start, end, f.evidence(node)))
        elif f.is_a(node, "BarredListEntry"):
            via = f.value(node, "finding")
            barred.append(Barred(_opt(f, f.value(via, "allegation") if via else None),
                                 _opt(f, f.value(node, "force")), f.value(node, "date"), f.evidence(node)))
    memberships = [_membership(f, n) for n in f.referrers(officer, "member")]
    postings.sort(key=lambda p: (lower(p.start) or "9999", p.evidence.iri))
    allegations.sort(key=lambda a: (a.investigation.label if a.investigation else "", a.allegation.label))
    memberships.sort(key=lambda m: (lower(m.start) or "9999", m.group.label))
    statuses.sort(key=lambda s: (lower(s.start) or "", s.status))
    barred.sort(key=lambda b: (b.allegation.label if b.allegation else "", b.evidence.iri))
    investigations = sorted({a.investigation for a in allegations if a.investigation}, key=lambda r: (r.label, r.iri))
    items: list[Posting | AllegationItem | Membership | StatusAt | Barred] = [
        *postings, *allegations, *memberships, *statuses, *barred]
    evidence = [x.evidence for x in items]
    force = f.value(officer, "force")
    return OfficerDetail(ref(f, officer), f.value(officer, "pseudonym"), _opt(f, force),
                         _current_status(f, officer), tuple(postings), tuple(allegations), tuple(investigations),
                         tuple(memberships), tuple(statuses), tuple(barred), caveats(evidence))


# --------------------------------------------------------------------------- investigations
@dataclass(frozen=True)
class InvestigationSummary:
    """An investigation in a listing."""

    investigation: Ref
    title: str | None
    status: str | None
    inquiry: Ref | None
    start: str | None
    end: str | None
    allegation_count: int
    subject_count: int


@dataclass(frozen=True)
class Subject:
    """An officer who is a subject of an allegation, with the finding's result and outcomes."""

    officer: Ref
    result: str | None
    outcomes: tuple[str, ...]
    evidence: Evidence


@dataclass(frozen=True)
class AllegationDetail:
    """An allegation with its categories and subjects."""

    allegation: Ref
    categories: tuple[str, ...]
    description: str | None
    concerns: tuple[Ref, ...]
    subjects: tuple[Subject, ...]
    evidence: Evidence


@dataclass(frozen=True)
class InvestigationDetail:
    """An investigation with its allegations, subjects, findings and outcomes."""

    investigation: InvestigationSummary
    description: str | None
    body: Ref | None
    linked_to: tuple[Ref, ...]
    allegations: tuple[AllegationDetail, ...]
    evidence: Evidence
    caveats: tuple[str, ...]


def _inv_summary(f: Facts, inv: str) -> InvestigationSummary:
    allegations = f.referrers(inv, "investigation")
    subjects = {f.value(x, "officer") for a in allegations for x in f.referrers(a, "allegation")} - {None}
    status = f.value(inv, "status")
    start, end = f.interval(inv)
    return InvestigationSummary(ref(f, inv), f.value(inv, "title"), f.concept(status).notation if status else None,
                                _opt(f, f.value(inv, "inquiry")), start, end, len(allegations), len(subjects))


def list_investigations(f: Facts, *, inquiry: str | None = None, status: str | None = None) -> list[InvestigationSummary]:
    """Investigations by IRI, optionally of one `inquiry` or `status` (IRIs).

    Parameters
    ----------
    f : Facts
        The facts (the real ones, or a view's).
    inquiry : IRI, optional
        Keep the investigations of this inquiry.
    status : IRI, optional
        Keep the investigations whose status is this concept (the concept itself only).
    """
    return [_inv_summary(f, i) for i in f.of_type("Investigation")
            if (not inquiry or f.value(i, "inquiry") == inquiry) and (not status or f.value(i, "status") == status)]


def investigation_detail(f: Facts, inv: str) -> InvestigationDetail:
    """An investigation with its allegations, their subjects, findings and outcomes.

    Parameters
    ----------
    f : Facts
        The facts (the real ones, or a view's).
    inv : IRI
        The investigation (:func:`entity`).
    """
    allegations = []
    for a in sorted(f.referrers(inv, "investigation"), key=lambda a: (f.label(a), a)):
        subjects = []
        for finding in f.referrers(a, "allegation"):
            if not f.is_a(finding, "Finding"):
                continue
            result = f.value(finding, "result")
            subjects.append(Subject(ref(f, f.value(finding, "officer") or ""),
                                    f.concept(result).notation if result else None,
                                    _notations(f, f.values(finding, "outcome")), f.evidence(finding)))
        subjects.sort(key=lambda s: (s.officer.label, s.officer.iri))
        allegations.append(AllegationDetail(ref(f, a), _notations(f, f.categories_of(a)), f.value(a, "description"),
                                            tuple(ref(f, c) for c in f.values(a, "concerns")), tuple(subjects),
                                            f.evidence(a)))
    linked = set(f.values(inv, "linkedTo")) | set(f.referrers(inv, "linkedTo"))  # ov:linkedTo is symmetric
    evidence = [f.evidence(inv), *(a.evidence for a in allegations), *(s.evidence for a in allegations for s in a.subjects)]
    return InvestigationDetail(_inv_summary(f, inv), f.value(inv, "description"),
                               _opt(f, f.value(inv, "investigatingBody")),
                               tuple(ref(f, x) for x in sorted(linked, key=lambda x: (f.label(x), x))),
                               tuple(allegations),
                               f.evidence(inv), caveats(evidence))


# --------------------------------------------------------------------------- chat groups
@dataclass(frozen=True)
class MessageItem:
    """A message, described by its categories (never its content)."""

    message: Ref
    sender: Ref | None
    sent_at: str | None
    categories: tuple[str, ...]
    evidence: Evidence


@dataclass(frozen=True)
class ChatGroupDetail:
    """A chat group with its members and messages."""

    group: Ref
    platform: str | None
    reported_member_count: int | None
    members: tuple[Membership, ...]
    messages: tuple[MessageItem, ...]
    caveats: tuple[str, ...]


def list_chat_groups(f: Facts) -> list[Ref]:
    """Every chat group, by IRI."""
    return [ref(f, g) for g in f.of_type("ChatGroup")]


def chat_group_detail(f: Facts, group: str) -> ChatGroupDetail:
    """A chat group with its members (and their dates) and its messages (categories only, no content).

    Parameters
    ----------
    f : Facts
        The facts (the real ones, or a view's).
    group : IRI
        The chat group (:func:`entity`).
    """
    members = sorted((_membership(f, n) for n in f.referrers(group, "group") if f.is_a(n, "ChatMembership")),
                     key=lambda m: (m.member.label, m.member.iri, lower(m.start) or ""))
    messages = sorted((MessageItem(ref(f, n), _opt(f, f.value(n, "sender")), f.value(n, "sentAt"),
                                   _notations(f, f.values(n, "contentCategory")), f.evidence(n))
                       for n in f.referrers(group, "group") if f.is_a(n, "Message")),
                      key=lambda m: (m.sent_at or "9999", m.message.label))
    platform = f.value(group, "platform")
    count = f.value(group, "reportedMemberCount")
    return ChatGroupDetail(ref(f, group), f.concept(platform).notation if platform else None,
                           int(count) if count and count.lstrip("+-").isdigit() else None,
                           tuple(members), tuple(messages),
                           caveats([*(m.evidence for m in members), *(m.evidence for m in messages)]))


# --------------------------------------------------------------------------- timelines
@dataclass(frozen=True)
class TimelineEvent:
    """Something that happened, when (partial dates allowed; both None when undated)."""

    start: str | None
    end: str | None
    kind: str
    label: str
    about: Ref
    evidence: Evidence


_STATEMENTS = {"officers": ("officer", "member", "sender", "involves", "victim"),
               "investigations": ("investigation", "about", "involves"),
               "chat-groups": ("group", "involves")}


def timeline(f: Facts, kind: str, iri: str) -> list[TimelineEvent]:
    """The dated (and undated) facts about an officer, investigation or chat group, in order.

    Ordered by the earliest day each start can mean; undated events come last.

    Parameters
    ----------
    f : Facts
        The facts (the real ones, or a view's).
    kind : str
        ``officers``, ``investigations`` or ``chat-groups``: which statements about `iri` are its events (an
        investigation or a chat group is one itself; an officer is not).
    iri : IRI
        The officer, investigation or chat group (:func:`entity`).
    """
    nodes = {iri} if kind != "officers" else set()
    for name in _STATEMENTS[kind]:
        nodes.update(f.referrers(iri, name))
    if kind == "investigations":
        for allegation in f.referrers(iri, "investigation"):
            nodes.update(n for n in f.referrers(allegation, "allegation") if f.is_a(n, "Finding"))
    events = []
    for node in nodes:
        ev = f.evidence(node)
        if ev.kind == "allegation" and kind == "officers":  # an officer as victim of an allegation
            label = f"Victim in allegation {ev.label}"
        else:
            label = ev.label if ev.kind != "event" else (f.value(node, "description") or ev.label)
        events.append(TimelineEvent(ev.start, ev.end, ev.kind, label, ref(f, node), ev))
    return sorted(events, key=lambda e: (lower(e.start) or lower(e.end) or "9999", e.kind, e.about.iri))
