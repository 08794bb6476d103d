"""A consumer group's lag counted from its last delivered entry (what Redis before 7 does not
say), against the lag Redis 7 reports for the same group."""

from __future__ import annotations

from typing import Any

import redis

from services.adapters.connection import lag_start, text


def test_the_entries_after_the_last_delivered_one_are_the_groups_lag(
    redis_client: redis.Redis, prefix: str
) -> None:
    stream = f"{{{prefix}}}:lagged"
    for i in range(10):
        redis_client.xadd(stream, {"n": str(i)})
    redis_client.xgroup_create(stream, "g", id="0")
    counted = []
    for read in (4, 3, 3):
        redis_client.xreadgroup("g", "c", {stream: ">"}, count=read)
        reply: Any = redis_client.xinfo_groups(stream)
        info = {text(k): v for k, v in reply[0].items()}
        rows: Any = redis_client.xrange(stream, lag_start(info), "+")
        counted.append(len(rows))
        if info.get("lag") is not None:  # Redis 7 says it: the two agree
            assert info["lag"] == len(rows)
    assert counted == [6, 3, 0]


def test_a_group_that_read_nothing_lags_by_the_whole_stream() -> None:
    assert lag_start({}) == "(0-0"
    assert lag_start({"last-delivered-id": b"0-0"}) == "(0-0"
