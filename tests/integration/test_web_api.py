"""The auditor site's JSON endpoints, one test each, on demo-like data a real fee worker
priced; and the whole site served as the `auditor` ACL user, which may not write or EVAL."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
import redis
from starlette.testclient import TestClient
from test_fee_worker_support import register
from web_world import FLAT_090, NAME, PID, World, recorded_world

from contracts.messages import AmendmentRecorded
from contracts.wire import encode
from services.adapters.keys import Keys
from services.ops.acl import build_user
from services.web.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(redis_url: str) -> Iterator[World]:
    yield from recorded_world(redis_url)


@pytest.fixture
def site(world: World) -> Iterator[TestClient]:
    client = redis.Redis.from_url(world.redis_url)
    yield TestClient(create_app(client, world.keys))
    client.close()


def get(site: TestClient, path: str, status: int = 200) -> Any:
    reply = site.get(path)
    assert reply.status_code == status, reply.text
    return reply.json()


def test_api_portfolios_finds_a_portfolio_by_any_part_of_a_name(site: TestClient) -> None:
    found = get(site, "/api/portfolios?q=SMALL%20cap")["results"]
    assert [r["portfolio_id"] for r in found] == [PID]
    assert found[0]["names"] == [NAME]
    assert get(site, "/api/portfolios?q=nothing-like-it")["results"] == []


def test_api_portfolio_steps_versions_and_the_answer_on_a_day(site: TestClient) -> None:
    view = get(site, f"/api/portfolio/{PID}?on=2006-11-01&levels=100000000,1e9")
    assert view["levels"] == ["100000000", "1E+9"]
    assert [s["from"] for s in view["steps"]] == ["2006-05-01", "2006-11-01"]
    assert [s["rates_pct"][0] for s in view["steps"]] == ["0.90", "0.88"]
    # At $1B: half at 0.88%, half at 0.83%.
    assert Decimal(view["steps"][1]["rates_pct"][1]) == Decimal("0.855")
    assert [v["amendment_number"] for v in view["versions"]] == [2, 22]
    assert view["on"]["set_by"]["amendment_number"] == 22
    assert not any(v["changed_since"] for v in view["versions"])
    assert view["changed_since"] == []


def test_api_portfolio_as_known_before_amendment_22(site: TestClient, world: World) -> None:
    view = get(site, f"/api/portfolio/{PID}?on=2006-11-01&at_position={world.first_position}")
    assert view["on"]["tiers"] == [{"from": "0", "to": None, "rate_pct": "0.90"}]
    assert view["on"]["set_by"]["amendment_number"] == 2
    assert [s["from"] for s in view["steps"]] == ["2006-05-01"]
    changed = [v["amendment_number"] for v in view["versions"] if v["changed_since"]]
    assert changed == [22]
    assert view["changed_since"] == [{"from": "2006-11-01", "to": None}]
    # The same, asked by the moment Amendment No. 2 was recorded.
    moment = view["versions"][0]["recorded_at"]
    by_time = get(site, f"/api/portfolio/{PID}?on=2006-11-01&known_at={quote(moment)}")
    assert by_time["on"] == view["on"]


def test_api_portfolio_as_known_before_anything_was_recorded(site: TestClient) -> None:
    view = get(site, f"/api/portfolio/{PID}?on=2006-11-01&known_at=2000-01-01T00:00:00Z")
    assert view["steps"] == []
    assert view["on"]["tiers"] is None


def test_api_portfolio_refuses_bad_input(site: TestClient) -> None:
    assert "levels" in get(site, f"/api/portfolio/{PID}?levels=abc", 400)["error"]
    assert "known_at" in get(site, f"/api/portfolio/{PID}?known_at=yesterday", 400)["error"]
    get(site, "/api/portfolio/no-such-fund", 404)


def test_api_accruals_months_and_adjustments(site: TestClient) -> None:
    found = get(site, f"/api/portfolio/{NAME}/accruals?from=2006-10-01&to=2006-11-30")
    assert found["portfolio_id"] == PID
    assert [m["month"] for m in found["months"]] == ["2006-10", "2006-11"]
    adjusted = {a["as_of"]: a for a in found["adjustments"]}
    assert sorted(adjusted) == ["2006-11-01", "2006-11-02"]
    assert adjusted["2006-11-01"]["reason"] == "amendment"
    assert adjusted["2006-11-01"]["cause"] == "Amendment No. 22 of AG-1"
    assert Decimal(adjusted["2006-11-01"]["delta"]) < 0  # 0.88% is less than 0.90%
    november = found["months"][1]
    assert Decimal(november["adjustments"]) == sum(Decimal(a["delta"]) for a in adjusted.values())


def test_api_day_explanation_is_the_fee_accrued_event(site: TestClient, world: World) -> None:
    explained = get(site, f"/api/portfolio/{PID}/day/2006-11-07")
    client = redis.Redis.from_url(world.redis_url)
    event = world.fee_accrued(client, "2006-11-07")
    client.close()
    for name in ("amount", "amount_exact", "accrual_days", "day_count", "year_basis", "rounding"):
        assert str(explained[name]) == str(event[name]), name
    assert Decimal(explained["annual_fee"]) == Decimal(event["annual_fee"])
    assert Decimal(explained["effective_rate_pct"]) == Decimal(event["effective_rate_pct"])
    assert explained["schedule_ref"] == event["schedule_ref"]
    assert [
        (Decimal(b["assets_in_band"]), Decimal(b["annual_charge"])) for b in explained["bands"]
    ] == [(Decimal(b["assets_in_band"]), Decimal(b["annual_charge"])) for b in event["breakdown"]]
    get(site, f"/api/portfolio/{PID}/day/2006-11-04", 404)


def test_api_amendment_old_and_new_schedule(site: TestClient) -> None:
    found = get(site, "/api/amendment/AG-1/22")
    assert found["effective_date"] == "2006-11-01"
    assert found["changes"][0]["action"] == "revise"
    compared = found["schedules"][0]
    assert (compared["old_describe"], compared["new_describe"]) == (
        "0.90% flat",
        "0.88% to $500M, 0.83% above",
    )
    get(site, "/api/amendment/AG-1/99", 404)


def test_api_operations_dead_letters_unpriced_and_lag(site: TestClient) -> None:
    found = get(site, "/api/operations")
    letters = found["dead_letters"]
    assert letters["total"] == 1 and letters["entries"][0]["code"] == "invalid_json"
    assert found["unpriced"] == []
    groups = {g["group"]: g for g in found["consumer_lag"]}
    assert groups["fee-worker"]["lag"] == 0 and groups["fee-worker"]["pending"] == 0


def test_the_pages_render(site: TestClient) -> None:
    for path in (
        "/?q=met",
        f"/portfolio/{PID}",
        f"/portfolio/{PID}/accruals",
        f"/portfolio/{PID}/day/2006-11-07",
        "/amendment/AG-1/22",
        "/operations",
    ):
        reply = site.get(path)
        assert reply.status_code == 200, path
        assert "cdn" not in reply.text.lower() and "https://" not in reply.text, path
    assert site.get("/portfolio/nope").status_code == 404


def test_user_input_is_escaped(site: TestClient) -> None:
    reply = site.get("/?q=<script>alert(1)</script>")
    assert "<script>alert(1)" not in reply.text and "&lt;script&gt;" in reply.text


# ---- the auditor ACL user ----------------------------------------------------------------


@pytest.fixture
def auditor(world: World) -> Iterator[tuple[redis.Redis, str]]:
    admin = redis.Redis.from_url(world.redis_url)
    version = str(admin.info("server")["redis_version"])  # type: ignore[index]
    suffix = f"-{world.prefix}-web"
    user = build_user("auditor", world.prefix, "pw-web", user_suffix=suffix, server_version=version)
    admin.execute_command(*shlex.split(user.setuser()))
    client = redis.Redis.from_url(world.redis_url, username="auditor" + suffix, password="pw-web")
    try:
        yield client, "auditor" + suffix
    finally:
        client.close()
        admin.acl_deluser("auditor" + suffix)
        admin.close()


def test_the_site_works_as_the_auditor_and_never_writes(
    auditor: tuple[redis.Redis, str], world: World
) -> None:
    """Every endpoint answers as the auditor, whom the ACL denies writes and EVAL; the ACL log
    then holds no refusal of that user (a write or a script would have been refused)."""
    from redis.exceptions import NoPermissionError

    auditor_client, name = auditor
    with pytest.raises(NoPermissionError):
        auditor_client.xadd(world.keys.agreements, {"a": "1"})
    with pytest.raises(NoPermissionError):
        auditor_client.eval("return 1", 0)
    admin = redis.Redis.from_url(world.redis_url)
    site = TestClient(create_app(auditor_client, world.keys))
    paths = [
        "/api/portfolios?q=met",
        f"/api/portfolio/{PID}?on=2006-11-01&at_position={world.first_position}",
        f"/api/portfolio/{NAME}/accruals",
        f"/api/portfolio/{PID}/day/2006-11-07",
        "/api/amendment/AG-1/22",
        "/api/operations",
        f"/portfolio/{PID}",
        f"/portfolio/{PID}/accruals",
        "/operations",
    ]
    for path in paths:
        assert site.get(path).status_code == 200, path
    refusals = [e for e in admin.acl_log(count=500) if e.get("username") == name]  # type: ignore[union-attr]
    admin.close()
    # The two refusals provoked above, and nothing the site did.
    assert sorted(e["object"] for e in refusals) == ["eval", "xadd"], refusals


def test_the_site_follows_the_log_and_a_name_with_a_slash_reaches_its_portfolio(
    redis_client: redis.Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys, "AG-9")
    change = {"action": "add", "portfolio_id": "p-9", "portfolio_name": "Met/AIM Small Cap"}
    recorded = AmendmentRecorded.model_validate(
        {
            "agreement_id": "AG-9",
            "amendment_number": 2,
            "effective_date": "2006-05-01",
            "changes": [{**change, "tiers": FLAT_090}],
        }
    )
    site = TestClient(create_app(redis_client, keys))
    get(site, "/api/portfolio/p-9", 404)
    # Recorded after the site started: the next request folds it (the site follows the log).
    redis_client.xadd(keys.agreements, encode(recorded))  # type: ignore[arg-type]
    assert get(site, "/api/portfolio/Met%2FAIM%20Small%20Cap")["portfolio_id"] == "p-9"
    assert get(site, "/api/portfolios?q=met/aim")["results"][0]["portfolio_id"] == "p-9"
    assert site.get("/portfolio/Met%2FAIM%20Small%20Cap/accruals").status_code == 200
