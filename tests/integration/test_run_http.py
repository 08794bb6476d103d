"""`feeschedule run all` as a real process: /health and /metrics answer a real HTTP client.

The agreement and its amendment go on the log in the wire format, reports are XADDed by hand;
the metrics must then show the projector's and the fee worker's processed entries, a dead
letter, an adjustment of a revised report, and the consumer groups' pending gauges.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
import redis
from conftest import FEESCHEDULE

from contracts.messages import AgreementRegistered, AmendmentRecorded
from contracts.wire import encode
from services.adapters.keys import Keys

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except httpx2.TransportError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def running(
    redis_url: str, prefix: str, args: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    environment = {
        **os.environ,
        "FEES_REDIS_URL": redis_url,
        "FEES_PREFIX": prefix,
        "FEES_BLOCK_MS": "100",
        **(env or {}),
    }
    # Output to a file, not a pipe nobody drains (a full pipe would block the service).
    with tempfile.TemporaryFile(mode="w+") as output:
        process = subprocess.Popen(
            [str(FEESCHEDULE), "run", *args],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            output.seek(0)
            print(output.read())  # pytest shows it when the test fails


def _report(report_id: str, day: str, assets: str, revision: int = 0) -> dict[str, str]:
    data = {
        "type": "NetAssetsReported",
        "event_id": f"ev-{report_id}-{revision}",
        "report_id": report_id,
        "portfolio_id": "FUND-A",
        "as_of": day,
        "net_assets": assets,
        "revision": revision,
    }
    return {"type": "NetAssetsReported", "event_id": data["event_id"], "data": json.dumps(data)}


def _put_agreement(client: redis.Redis, log: str) -> None:
    client.xadd(log, encode(AgreementRegistered(agreement_id="AG")))  # type: ignore[arg-type]
    amendment = AmendmentRecorded.model_validate(
        {
            "agreement_id": "AG",
            "amendment_number": 1,
            "effective_date": "2024-01-01",
            "changes": [
                {
                    "action": "add",
                    "portfolio_id": "FUND-A",
                    "portfolio_name": "Fund A",
                    "tiers": [{"from": "0", "to": None, "rate_pct": "0.75"}],
                }
            ],
        }
    )
    client.xadd(log, encode(amendment))  # type: ignore[arg-type]


def _value(text: str, name: str, **labels: str) -> float | None:
    """One sample of the Prometheus text, matched by its labels (in any order)."""
    for line in text.splitlines():
        found = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if found is None:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', found.group(1)))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(found.group(2))
    return None


def test_health_and_metrics_while_run_all_runs(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    _put_agreement(redis_client, keys.agreements)
    env = {"FEES_HTTP_PORT": str(port), "FEES_GAP_REFRESH_MS": "100"}
    with running(redis_url, prefix, ["all"], env) as process:
        with httpx2.Client(base_url=base, timeout=5) as http:
            health = _wait(lambda: http.get("/health"), 30, "/health to answer")
            assert health.status_code == 200, health.text
            body = health.json()
            assert (body["status"], body["redis"]) == ("ok", "ok")
            # `run all` with an HTTP port serves the auditor's site there too.
            assert set(body["service"].split(",")) == {"projector", "fee-worker", "web"}
            site = http.get("/")
            assert site.status_code == 200 and "text/html" in site.headers["content-type"]

            def processed(service: str, stream: str) -> float:
                text = http.get("/metrics").text
                value = _value(
                    text, "feeschedule_messages_processed_total", service=service, stream=stream
                )
                return value or 0.0

            # Before any report: the groups exist and nothing of the fee worker's is pending.
            metrics = _wait(
                lambda: (
                    (t := http.get("/metrics").text)
                    and _value(
                        t, "feeschedule_pending_entries", stream=keys.net_assets, group="fee-worker"
                    )
                    is not None
                    and t
                ),
                30,
                "the fee worker's group gauge",
            )
            assert (
                _value(
                    metrics,
                    "feeschedule_pending_entries",
                    stream=keys.net_assets,
                    group="fee-worker",
                )
                == 0
            )
            start = processed("fee-worker", keys.net_assets)

            for n in (1, 2, 3, 5, 6):  # no report covers Thursday 4 January
                redis_client.xadd(
                    keys.net_assets, _report(f"r{n}", f"2024-01-0{n}", "100000000.00")
                )
            redis_client.xadd(keys.net_assets, {"type": "NetAssetsReported", "data": "{oops"})
            redis_client.xadd(
                keys.net_assets, _report("r1", "2024-01-01", "200000000.00", revision=1)
            )
            _wait(
                lambda: processed("fee-worker", keys.net_assets) >= start + 7,
                30,
                "the fee worker to count 7 processed reports",
            )
            _wait(
                lambda: processed("projector", keys.agreements) >= 2,
                30,
                "the projector to count the 2 log entries",
            )
            _wait(
                lambda: (
                    _value(
                        http.get("/metrics").text,
                        "feeschedule_accrual_gap_days",
                        portfolio_id="FUND-A",
                    )
                    == 1
                ),
                30,
                "the gap gauge to count the one day no accrual covers",
            )
            text = http.get("/metrics").text
        assert process.poll() is None

    assert _value(
        text, "feeschedule_dead_lettered_total", service="fee-worker", stream=keys.net_assets
    ) == pytest.approx(1)
    assert (_value(text, "feeschedule_adjustments_total", reason="revised_report") or 0) >= 1
    assert (_value(text, "feeschedule_batch_seconds_count", service="fee-worker") or 0) >= 1
    assert (_value(text, "feeschedule_batch_seconds_count", service="projector") or 0) >= 1
    for stream, group in ((keys.net_assets, "fee-worker"), (keys.agreements, "projector")):
        assert _value(text, "feeschedule_pending_entries", stream=stream, group=group) == 0
    # What the metrics count is what happened in Redis.
    assert redis_client.xlen(keys.accruals) == 6  # 5 FeeAccrued + 1 FeeAdjusted
    assert redis_client.xlen(keys.dead_letters) == 1


def test_http_port_option_and_a_port_in_use(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    port = _free_port()
    # An entry another consumer read and has not acknowledged (not idle long enough to claim).
    redis_client.xgroup_create(keys.net_assets, "fee-worker", id="0", mkstream=True)
    redis_client.xadd(keys.net_assets, _report("r1", "2024-01-02", "1.00"))
    redis_client.xreadgroup("fee-worker", "someone-else", {keys.net_assets: ">"})
    with running(redis_url, prefix, ["fee-worker", "--http-port", str(port)]) as process:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            health = _wait(lambda: http.get("/health"), 30, "/health to answer")
            assert health.json()["service"] == "fee-worker"
            _wait(
                lambda: (
                    _value(
                        http.get("/metrics").text,
                        "feeschedule_pending_entries",
                        stream=keys.net_assets,
                        group="fee-worker",
                    )
                    == 1
                ),
                30,
                "the pending gauge to show the unacknowledged entry",
            )
        # A second process on the same port: one line naming the port, exit 2.
        second = subprocess.run(
            [str(FEESCHEDULE), "run", "fee-worker", "--http-port", str(port)],
            env={**os.environ, "FEES_REDIS_URL": redis_url, "FEES_PREFIX": prefix},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert process.poll() is None
    assert second.returncode == 2, second.stderr
    assert f"http-port: cannot listen on 127.0.0.1:{port}" in second.stderr
