"""Creating the roles' ACL users on a running Redis: on a cluster, on every node.

Redis keeps ACL users per node: neither ACL SETUSER nor the users' file is replicated or
spread over a cluster, and redis-py's cluster client sends ACL SETUSER to one node only. So the
users are set on each node in turn (primaries and replicas alike: a replica that a failover
promotes must already know them), each with the rules of that node's Redis version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis

from services.adapters.connection import each_node
from services.ops.acl import AclUser


@dataclass(frozen=True, slots=True)
class Applied:
    node: str  # host:port
    version: str
    users: tuple[str, ...]


def server_version(client: redis.Redis) -> str:
    info: Any = client.info("server")
    return str(info["redis_version"])


def apply_users(
    client: redis.Redis, users_for: Callable[[str], Iterable[AclUser]]
) -> list[Applied]:
    """ACL SETUSER each user `users_for(that node's version)` gives, on every node."""
    done: list[Applied] = []
    for name, node in each_node(client):
        version = server_version(node)
        users = list(users_for(version))
        for user in users:
            # A selector `(...)` is one rule, so one argument: no shell-style splitting. The
            # raw command, since acl_setuser() has no way to pass selectors.
            node.execute_command("ACL", "SETUSER", user.name, *user.rules)  # type: ignore[no-untyped-call]
        done.append(Applied(name, version, tuple(u.name for u in users)))
    return done


def delete_users(client: redis.Redis, names: Iterable[str]) -> None:
    """ACL DELUSER on every node."""
    wanted = list(names)
    for _, node in each_node(client):
        node.acl_deluser(*wanted)
