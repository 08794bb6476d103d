"""The connection commands each role's user may send, by server version: CLIENT SETINFO where a
rule may name it, never where the server would refuse the whole user for naming it."""

from __future__ import annotations

import pytest

from services.ops.acl import build_user


@pytest.mark.parametrize(
    ("version", "handshake"),
    [
        ("6.2.14", {"+client|setinfo", "+client|maint_notifications"}),
        ("7.0.15", set()),
        ("7.1.0", set()),
        ("7.2.4", {"+client|setinfo"}),
        ("8.0.2", {"+client|setinfo"}),
    ],
)
def test_the_handshake_is_allowed_where_the_server_can_name_it(
    version: str, handshake: set[str]
) -> None:
    for role in ("recorder", "projector", "fee-worker", "auditor"):
        rules = set(build_user(role, "fees", "pw", server_version=version).rules)
        assert {r for r in rules if r.startswith("+client|")} == handshake, (role, version)
