"""The linkage and entity routes over HTTP: answers with evidence, strict parameters, ETags, pagination."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest

from api import create_app
from api.database import close
from tests.api.test_e2e import get


@pytest.fixture(scope="module")
def ids(bundled_client: Any) -> dict[str, str]:
    """'A' -> id of Officer A, 'I4' -> id of investigation I4, 'whatsapp' -> id of the WhatsApp group."""
    out = {o["officer"]["label"].removeprefix("Officer "): o["officer"]["id"]
           for o in bundled_client.get("/officers?limit=1000").json["items"]}
    out.update({i["investigation"]["label"]: i["investigation"]["id"]
                for i in bundled_client.get("/investigations").json["items"]})
    for group in bundled_client.get("/chat-groups").json["items"]:
        out["whatsapp" if "WhatsApp" in group["label"] else "facebook"] = group["id"]
    return out


def test_officer_detail_gives_every_item_with_its_evidence(bundled_client: Any, ids: dict[str, str]) -> None:
    body = bundled_client.get(f"/officers/{ids['C']}").json
    assert body["officer"]["iri"].endswith("/" + ids["C"])
    assert {a["allegation"]["label"] for a in body["allegations"]} == {"I4-3", "I5-1"}
    assert {m["group"]["label"] for m in body["memberships"]} == {"WhatsApp group of 17 officers", "Facebook chat group"}
    assert [s["status"] for s in body["statuses"]] == ["resigned"] and len(body["barred_list"]) == 2
    assert body["postings"][0]["rank"] == "PC" and body["caveats"] == ["illustrative"]
    cited = {s for a in body["allegations"] for s in a["evidence"]["sources"]}
    assert cited and cited <= set(body["sources"]) and all(v["title"] for v in body["sources"].values())


def test_investigation_chat_group_and_timelines(bundled_client: Any, ids: dict[str, str]) -> None:
    inv = bundled_client.get(f"/investigations/{ids['I8']}").json
    assert len(inv["allegations"][0]["subjects"]) == 8
    group = bundled_client.get(f"/chat-groups/{ids['whatsapp']}").json
    assert len({m["member"]["id"] for m in group["members"]}) == 17 and group["reported_member_count"] == 17
    timeline = bundled_client.get(f"/officers/{ids['A']}/timeline").json["items"]
    dated = [e["start"] for e in timeline if e["start"]]
    assert dated == sorted(dated) and timeline[-1]["start"] is None  # in order; undated last
    assert {e["kind"] for e in timeline} >= {"posting", "chat-membership", "finding", "message", "barred-list-entry"}
    assert bundled_client.get(f"/chat-groups/{ids['whatsapp']}/timeline").status_code == 200
    assert bundled_client.get(f"/investigations/{ids['I1']}/timeline").status_code == 200


def test_linkage_answers_over_http(bundled_client: Any, ids: dict[str, str]) -> None:
    repeat = bundled_client.get("/linkage/repeat-subjects?min_investigations=2").json
    assert {i["officer"]["label"] for i in repeat["items"]} == {f"Officer {x}" for x in "ABCDE"}
    shared = bundled_client.get("/linkage/shared-groups?outcome=dismissal").json
    assert {i["other"]["label"] for i in shared["items"]} >= {f"Officer {x}" for x in "OPQ"}
    bystanders = bundled_client.get("/linkage/bystanders").json["items"]
    assert {(b["officer"]["label"], b["subject"]["label"]) for b in bystanders} == {
        ("Officer E", "Officer A"), ("Officer G", "Officer F"), ("Officer H", "Officer C")}
    scoped = bundled_client.get(f"/linkage/co-accused?officers={ids['B']},{ids['C']}").json["items"]
    assert len(scoped) == 1 and scoped[0]["shared"][0]["via"]["label"] == "I4"
    path = bundled_client.get(f"/linkage/path?from={ids['E']}&to={ids['C']}&kinds=co-accused").json
    assert path["items"][0]["length"] == 2 and path["items"][0]["hops"][0]["evidence"]
    net = bundled_client.get(f"/linkage/connecting-network?officers={ids['F']},{ids['N']}").json
    assert net["is_connected"]
    for url in ("/linkage/clusters?method=k-core&k=3", "/linkage/clusters?method=louvain&kinds=co-accused",
                "/linkage/centrality?measure=closeness&projection=full&top=3"):
        assert bundled_client.get(url).status_code == 200, url


@pytest.mark.parametrize("url, parameter", [
    ("/linkage/repeat-subjects?min_investigations=0", "min_investigations"),
    ("/linkage/repeat-subjects?min_investigations=two", "min_investigations"),
    ("/linkage/repeat-subjects?colour=red", "colour"),
    ("/linkage/co-accused?basis=complaint", "basis"),
    ("/linkage/co-accused?category=bad-things", "category"),
    ("/linkage/co-accused?since=2018-13", "since"),
    ("/linkage/co-accused?since=2019&until=2018", "since"),
    ("/linkage/co-accused?min_shared=1&min_shared=2", "min_shared"),
    ("/linkage/shared-groups", "officer"),
    ("/linkage/path?to=x", "from"),
    ("/linkage/path?from=../etc&to=x", "from"),
    ("/linkage/centrality?measure=pagerank", "measure"),
    ("/linkage/clusters?kinds=friends", "kinds"),
    ("/officers?limit=100000", "limit"),
    ("/officers?cursor=bm9wZQ", "cursor"),
    ("/officers?cursor=eDotMw", "cursor"),  # "x:-3": a tampered offset
    ("/linkage/co-accused?since=%D9%A2%D9%A0%D9%A1%D9%A6", "since"),  # Arabic-Indic digits are not a year
    ("/linkage/centrality?projection=full&since=1900", "since"),
    ("/linkage/path?projection=full&kinds=co-accused&from=a&to=b", "kinds"),
])
def test_bad_parameters_are_400_problems_naming_the_parameter(bundled_client: Any, url: str, parameter: str) -> None:
    response = bundled_client.get(url)
    assert response.status_code == 400 and response.mimetype == "application/problem+json", url
    assert response.json["parameter"] == parameter and parameter in response.json["detail"]


def test_partial_dates_compare_by_what_they_cover(bundled_client: Any) -> None:
    assert bundled_client.get("/linkage/co-accused?since=2016-05&until=2016").status_code == 200


def test_broader_categories_admit_narrower_ones_in_listings_too(bundled_client: Any) -> None:
    listed = bundled_client.get("/officers?category=discreditable-conduct").json["total"]
    asked = bundled_client.get("/linkage/repeat-subjects?min_investigations=1&category=discreditable-conduct").json
    assert listed == asked["total"] > 0


def test_if_none_match_star_never_hides_an_error(bundled_client: Any) -> None:
    assert bundled_client.get("/officers/nonexistent", headers={"If-None-Match": "*"}).status_code == 404
    first = bundled_client.get("/linkage/bystanders")
    weak = bundled_client.get("/linkage/bystanders", headers={"If-None-Match": "W/" + first.headers["ETag"]})
    assert weak.status_code == 304


def test_unknown_ids_are_404_problems(bundled_client: Any, ids: dict[str, str]) -> None:
    for url in ("/officers/0000", f"/officers/{ids['I1']}", "/chat-groups/x/timeline",
                f"/linkage/path?from={ids['A']}&to=ffff", "/linkage/shared-groups?officer=abc"):
        response = bundled_client.get(url)
        assert response.status_code == 404 and response.mimetype == "application/problem+json", url


def test_answers_are_byte_identical_and_honour_if_none_match(bundled_client: Any) -> None:
    first = bundled_client.get("/linkage/co-accused?min_shared=1")
    bundled_client.application.extensions["oversight"].derived.clear()  # recomputed, not served from cache
    second = bundled_client.get("/linkage/co-accused?min_shared=1")
    assert first.data == second.data and first.headers["ETag"] == second.headers["ETag"]
    cached = bundled_client.get("/linkage/co-accused?min_shared=1", headers={"If-None-Match": first.headers["ETag"]})
    assert cached.status_code == 304 and cached.data == b""
    other = bundled_client.get("/linkage/co-accused?min_shared=2")
    assert other.headers["ETag"] != first.headers["ETag"]


def test_pages_cover_every_item_once(bundled_client: Any) -> None:
    seen, url = [], "/officers?limit=5"
    while url:
        body = bundled_client.get(url).json
        seen += [i["officer"]["id"] for i in body["items"]]
        url = f"/officers?limit=5&cursor={body['next']}" if body["next"] else None
    assert len(seen) == len(set(seen)) == body["total"] == 18


def test_a_load_changes_the_answers_and_their_etag(settings: dict[str, Any]) -> None:
    from tests.api.test_app import zipped
    from tests.conftest import MINI

    app = create_app({**settings, "TESTING": True, "AUTH": False})
    try:
        client = app.test_client()
        empty = client.get("/linkage/co-accused")
        assert empty.json["total"] == 0
        client.put("/sources/mini", data=zipped(MINI), content_type="application/zip")
        after = client.get("/linkage/co-accused", headers={"If-None-Match": empty.headers["ETag"]})
        assert after.status_code == 200 and after.headers["ETag"] != empty.headers["ETag"]
        assert after.json["data_version"] != empty.json["data_version"]
    finally:
        close(app)


def test_end_to_end_through_a_real_server(server: str) -> None:
    status, officers = get(server + "/officers?limit=1000")
    assert status == 200 and officers["total"] == 18
    ids = {o["officer"]["label"]: o["officer"]["id"] for o in officers["items"]}
    status, repeat = get(server + "/linkage/repeat-subjects")
    assert status == 200 and len(repeat["items"]) == 5 and repeat["sources"]
    status, path = get(server + f"/linkage/path?from={ids['Officer G']}&to={ids['Officer F']}&kinds=failed-to-report")
    assert status == 200 and path["items"][0]["hops"][0]["kinds"] == ["failed-to-report"]
    status, problem = get(server + "/linkage/co-accused?min_shared=-1")
    assert status == 400 and problem["parameter"] == "min_shared"
    with urllib.request.urlopen(server + "/linkage/bystanders") as response:
        tag = response.headers["ETag"]
    request = urllib.request.Request(server + "/linkage/bystanders", headers={"If-None-Match": tag})
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(request)
    assert not_modified.value.code == 304


@pytest.mark.parametrize(("empty", "plain"), [
    ("/linkage/repeat-subjects?limit=&until=&min_investigations=", "/linkage/repeat-subjects"),
    ("/linkage/co-accused?basis=&limit=", "/linkage/co-accused"),
    ("/officers?limit=", "/officers"),
])
def test_empty_parameters_count_as_absent(bundled_client: Any, empty: str, plain: str) -> None:
    """As the OpenAPI document says: HTML forms send empty fields, which take the default."""
    given, default = bundled_client.get(empty), bundled_client.get(plain)
    assert given.status_code == default.status_code == 200
    assert given.get_json()["items"] == default.get_json()["items"] and default.get_json()["items"]


def test_a_filter_on_a_concept_no_source_records_says_so(bundled_client: Any) -> None:
    body = bundled_client.get("/linkage/repeat-subjects?min_investigations=1&category=use-of-force").get_json()
    assert body["total"] == 0
    assert body["caveats"] == [("category 'use-of-force': no loaded source records this category (or a narrower "
                                "or matching one), so nothing can match it; an empty answer is not evidence of "
                                "absence")]
    used = bundled_client.get("/linkage/repeat-subjects?min_investigations=1&outcome=dismissal").get_json()
    assert used["caveats"] == [] and used["total"] > 0
    assert bundled_client.get("/linkage/co-accused?outcome=suspension").get_json()["caveats"][0].startswith(
        "outcome 'suspension'")
