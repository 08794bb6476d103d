"""`feeschedule demo --serve`: the demo ends by printing the auditor site's address and keeps
it up until Ctrl-C (SIGINT); without --serve it ends by itself (tests/e2e/test_demo.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest
from conftest import FEESCHEDULE

pytestmark = pytest.mark.e2e


def test_demo_serve_prints_the_site_and_stops_on_ctrl_c(redis_url: str) -> None:
    env = {**os.environ, "FEES_REDIS_URL": redis_url, "COLUMNS": "160"}
    demo = subprocess.Popen(
        [str(FEESCHEDULE), "demo", "--days", "20", "--serve", "--web-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert demo.stdout is not None
        deadline, address = time.monotonic() + 90, None
        for line in demo.stdout:
            found = re.search(r"auditor site.*?(http://[\d.]+:\d+)", line)
            if found:
                address = found.group(1)
                break
            assert time.monotonic() < deadline, "no address printed"
        assert address is not None
        with urllib.request.urlopen(f"{address}/api/portfolios?q=small", timeout=10) as reply:
            found_ids = [r["portfolio_id"] for r in json.load(reply)["results"]]
        assert found_ids == ["met-aim-small-cap-growth-portfolio"]
        # The amendment page names the filing it was ingested from.
        with urllib.request.urlopen(f"{address}/api/portfolio/{found_ids[0]}", timeout=10) as r:
            amendments = json.load(r)["amendments"]
        assert [a["amendment_number"] for a in amendments] == [2, 22]
        agreement = amendments[1]["agreement_id"]
        with urllib.request.urlopen(f"{address}/api/amendment/{agreement}/22", timeout=10) as r:
            source = json.load(r)["source"]
        assert re.fullmatch("[0-9a-f]{64}", source["sha256"]) and source["title"]
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


def test_feeschedule_web_serves_until_ctrl_c(redis_url: str, prefix: str) -> None:
    env = {**os.environ, "FEES_REDIS_URL": redis_url, "FEES_PREFIX": prefix, "COLUMNS": "160"}
    web = subprocess.Popen(
        [str(FEESCHEDULE), "web", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert web.stdout is not None
        line = web.stdout.readline()
        found = re.search(r"(http://[\d.]+:\d+)", line)
        assert found, line
        with urllib.request.urlopen(f"{found.group(1)}/api/operations", timeout=10) as reply:
            body = json.load(reply)
        assert body["dead_letters"]["total"] == 0 and body["log_position"] is None
        web.send_signal(signal.SIGINT)
        assert web.wait(timeout=20) == 0
    finally:
        if web.poll() is None:
            web.kill()
            web.wait()
