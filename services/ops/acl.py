"""Least-privilege Redis ACL users, one per role, derived from the key names in keys.py.

Pure: builds rules, talks to no server. A role is a list of grants, each a set of commands on a
set of keys (named by their `Keys` attribute, so a renamed key moves its permission with it).
Every key in `Keys` must be claimed here: a unit test fails when one is added and not placed.

On Redis >= 7 the first grant is the user's root permissions and every further grant is a
selector `(...)`, so a command is allowed only on the keys of a grant that lists it, and keys a
role only reads are `%R~`: the fee worker can read the agreements log but not XADD to it, the
projector can consume it but not DEL it. Redis 6.2 has neither selectors nor `%R~`: there the
grants are merged into one (any of the role's commands on any of its keys). That keeps every
role off other roles' keys and commands, but not the read/write split inside its own keys.

Commands run by a Lua script are checked against the caller's ACL one by one, so EVAL/EVALSHA
sit in a selector of their own over every key the role's scripts may declare: that lets the
script run, and each `redis.call` inside it is still held to the other grants.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from services.adapters.keys import Keys
from services.domain.errors import UsageProblem

ROLES = ("recorder", "projector", "fee-worker", "auditor")

# Every connection needs these (redis-py sends AUTH/HELLO, always allowed). PING is the health
# check.
CONNECTION = ("ping", "select")
# redis-py and FastStream also send CLIENT SETINFO (and redis-py over TCP CLIENT
# MAINT_NOTIFICATIONS) on connecting, and ignore a failure; but a refusal would fill the ACL log
# with noise that hides the refusals that matter. A server that does not know a subcommand
# fails it before the ACL is asked (no noise) and refuses a rule naming it, except 6.2, which
# takes any subcommand name in a rule and asks the ACL first. SETINFO is known from 7.2.
CLIENT_HANDSHAKE = ("client|setinfo", "client|maint_notifications")

# What a Redis Cluster client sends besides its commands (ACLs are per node, so every node
# needs them): CLUSTER SLOTS to learn which node serves which slot, COMMAND to learn where each
# command's keys are (redis-py asks both when it connects), and ASKING before a command
# redirected while its slot migrates. On one server they give away nothing (CLUSTER SLOTS is
# refused there), so the same users serve both.
CLUSTER_CONNECTION = ("cluster|slots", "command", "asking")

READ = (
    "xrange", "xrevrange", "xlen", "xread", "xinfo|stream", "xinfo|groups", "xinfo|consumers",
    "xpending", "get", "mget", "exists", "type", "ttl", "pttl", "strlen", "hget", "hmget",
    "hgetall", "hkeys", "hvals", "hlen", "hexists", "hscan", "lrange", "llen", "lindex", "lpos",
    "smembers", "sismember", "smismember", "scard", "sscan", "zrange", "zrangebyscore",
    "zrevrange", "zrevrangebyscore", "zscore", "zcard", "zcount", "zrank", "zscan",
)  # fmt: skip

# A consumer group reader: XREADGROUP, XACK, XAUTOCLAIM and XGROUP CREATE change the group's
# state, so they need write access to the stream on Redis 7; none of them adds or removes entries.
CONSUME = (
    "xreadgroup", "xack", "xautoclaim", "xclaim", "xpending", "xgroup|create",
    "xgroup|createconsumer", "xinfo|stream", "xinfo|groups", "xinfo|consumers", "xrange",
    "xrevrange", "xlen",
)  # fmt: skip

TRANSACTION = ("multi", "exec", "discard", "watch", "unwatch")

WRITE = (
    *READ, *TRANSACTION,
    "xadd", "set", "setnx", "del", "unlink", "expire", "pexpire", "incr", "incrby", "hset",
    "hsetnx", "hdel", "hincrby", "sadd", "srem", "rpush", "lpush", "lrem", "ltrim", "zadd",
    "zrem",
)  # fmt: skip

# The recorder's append script and the reads that rebuild one agreement's aggregate.
APPEND = (
    "xadd", "hincrby", "hsetnx", "rpush", "hget", "hmget", "hgetall", "hexists", "lrange",
    "llen", "lpos", "xrange", "xrevrange", "xlen", "exists", *TRANSACTION,
)  # fmt: skip

SCRIPTS = ("eval", "evalsha", "script|load", "script|exists")

ALL_KEYS = "*"  # every key under the prefix's hash tag


@dataclass(frozen=True, slots=True)
class Grant:
    """Commands allowed on keys; `write` keys are read and written, `read` keys only read."""

    commands: tuple[str, ...]
    write: tuple[str, ...] = ()
    read: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Role:
    grants: tuple[Grant, ...]
    scripts: bool = False  # runs Lua scripts (EVALSHA) over its keys


_RECORDER_KEYS = ("agreements", "agreement_versions", "agreement_events", "idempotency")
_FEE_WORKER_STATE = (
    "ledger", "coverage", "ledger_portfolios", "unpriced", "worker_checkpoint", "dedupe",
    "closed_months", "invoices_waiting", "advance_lease",
)  # fmt: skip
# Output streams are append-only for their writers: XADD and reads, never DEL.
_FEE_WORKER_STREAMS = ("accruals", "report_outcomes", "dead_letters", "invoice_outcomes")
APPEND_STREAM = ("xadd", "xrange", "xrevrange", "xlen", "xinfo|stream")
# Streams no role here appends to, only consumes: the net-asset input is published by the fund
# accounting system, the invoices by the adviser's side, the commands by accounting systems.
EXTERNAL_KEYS = ("net_assets", "invoices", "commands")

ROLE_GRANTS: dict[str, Role] = {
    # Appends to the agreements log (through the append script) and nothing else.
    "recorder": Role((Grant(APPEND, write=_RECORDER_KEYS),), scripts=True),
    # Consumes the log; writes the read model; dead-letters an event it cannot project.
    "projector": Role(
        (
            Grant(WRITE, write=("read_model_pointer", "read_model"), read=("agreements",)),
            Grant(CONSUME, write=("agreements",)),
            Grant(APPEND_STREAM, write=("dead_letters",)),
        ),
        scripts=True,
    ),
    # Consumes net assets; reads the log; writes accruals, ledger, dedupe, unpriced, checkpoint,
    # and the closed months (`feeschedule close` runs with its rights).
    "fee-worker": Role(
        (
            Grant(WRITE, write=(*_FEE_WORKER_STATE, "partitions"), read=("agreements",)),
            Grant(APPEND_STREAM, write=_FEE_WORKER_STREAMS),
            Grant(CONSUME, write=EXTERNAL_KEYS),
        ),
        scripts=True,
    ),
    # Replays and inspects everything, writes nothing.
    "auditor": Role((Grant(READ, read=(ALL_KEYS,)),)),
}


def key_pattern(keys: Keys, name: str) -> str:
    """The ACL key pattern of one `Keys` attribute (a family of keys ends in `*`)."""
    if name == ALL_KEYS:
        return f"{keys.lane_tag}:*"
    value = getattr(keys, name)
    return str(value("*") if callable(value) else value)


def key_patterns(keys: Keys, name: str) -> list[str]:
    """Its pattern, and for a fee-worker key also the pattern of that key in every partition
    (`{fees:p*}:...`): a user's rights do not depend on how many partitions there are."""
    return _unique([key_pattern(keys, name), key_pattern(Keys(keys.prefix, "*"), name)])


def key_names() -> tuple[str, ...]:
    """Every key name `Keys` defines (properties and key-family methods)."""
    return tuple(
        name
        for name, value in vars(Keys).items()
        if not name.startswith("_")
        and name not in {"prefix", "partition", "tag", "lane_tag", "lane", "lanes"}
        and (isinstance(value, property) or callable(value))
    )


def password_rule(password: str) -> str:
    """`#<sha256>`: the server stores only the hash, and so does any file we write."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def password_placeholder(role: str) -> str:
    """Not a valid rule: ACL SETUSER refuses it, so a placeholder can never become a password."""
    return f"#<sha256-of-${password_env(role)}>"


def password_env(role: str) -> str:
    return "FEES_ACL_" + role.upper().replace("-", "_") + "_PASSWORD"


def _version(server_version: str) -> tuple[int, int]:
    major, _, rest = server_version.partition(".")
    minor = rest.partition(".")[0]
    return (int(major) if major.isdigit() else 0, int(minor) if minor.isdigit() else 0)


def supports_selectors(server_version: str) -> bool:
    return _version(server_version) >= (7, 0)


def connection_commands(server_version: str) -> tuple[str, ...]:
    """What every user may send on connecting, for a server of `server_version`."""
    version = _version(server_version)
    if version < (7, 0):
        return (*CONNECTION, *CLIENT_HANDSHAKE)
    return (*CONNECTION, CLIENT_HANDSHAKE[0]) if version >= (7, 2) else CONNECTION


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _grant_rules(keys: Keys, grant: Grant, *, read_only_keys: bool) -> list[str]:
    rules = [f"+{command}" for command in grant.commands]
    rules += [f"~{pattern}" for name in grant.write for pattern in key_patterns(keys, name)]
    marker = "%R~" if read_only_keys else "~"
    rules += [f"{marker}{pattern}" for name in grant.read for pattern in key_patterns(keys, name)]
    return rules


def role_rules(role: str, keys: Keys, server_version: str) -> list[str]:
    """The permission rules of one role (without user name, state or password) for a server
    of `server_version`."""
    selectors = supports_selectors(server_version)
    spec = ROLE_GRANTS[role]
    grants = list(spec.grants)
    every_key = tuple(_unique(name for g in grants for name in (*g.write, *g.read)))
    if spec.scripts:
        grants.append(Grant(SCRIPTS, write=every_key))
    if not selectors:
        # Redis 6.2: one permission set, the union of the grants.
        grants = [Grant(tuple(_unique(c for g in grants for c in g.commands)), write=every_key)]
    root, *others = grants
    connecting = (*connection_commands(server_version), *CLUSTER_CONNECTION)
    rules = ["-@all", *(f"+{c}" for c in connecting)]
    rules += _grant_rules(keys, root, read_only_keys=selectors)
    for grant in others:
        rules.append("(" + " ".join(_grant_rules(keys, grant, read_only_keys=True)) + ")")
    return rules


@dataclass(frozen=True, slots=True)
class AclUser:
    role: str
    name: str
    rules: tuple[str, ...]  # everything after the user name

    def setuser(self) -> str:
        return " ".join(("ACL", "SETUSER", self.name, *self.rules))

    def aclfile_line(self) -> str:
        return " ".join(("user", self.name, *self.rules))


def known_roles(roles: Iterable[str]) -> None:
    """Refuses (a usage error) any of `roles` that is not in ROLES."""
    for role in roles:
        if role not in ROLE_GRANTS:
            raise UsageProblem(f"role: {role!r} is not one of {', '.join(ROLES)}")


def build_user(
    role: str,
    prefix: str,
    password: str,
    *,
    user_suffix: str = "",
    server_version: str = "7.0",
    password_is_rule: bool = False,
) -> AclUser:
    """One role's user: reset, enabled, its password (hashed), its permissions."""
    known_roles([role])
    secret = password if password_is_rule else password_rule(password)
    rules = (
        "reset",
        "on",
        secret,
        "resetchannels",
        *role_rules(role, Keys(prefix), server_version),
    )
    return AclUser(role, role + user_suffix, rules)


def admin_aclfile_line(password: str | None) -> str:
    """The `default` user of an ACL file: the administrator, by password (placeholder if None)."""
    secret = password_rule(password) if password is not None else password_placeholder("admin")
    return f"user default on {secret} ~* &* +@all"
