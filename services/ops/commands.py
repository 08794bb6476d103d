"""`feeschedule acl print`, `acl apply` and `feeschedule config`: operators' commands.

`acl print` writes the Redis ACL users of every role (see services/ops/acl.py), as
`ACL SETUSER` lines to pipe into redis-cli or as an ACL file for `redis-server --aclfile`.
Passwords are never printed: the rules carry `#<sha256>` of a password read from the
environment, or a placeholder that Redis refuses. `acl apply` creates the same users on the
settings' Redis, on a cluster on every node (services/ops/apply.py).
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from services.cli import UsageProblem, app, console, read_input
from services.ops.acl import (
    ROLES,
    admin_aclfile_line,
    build_user,
    known_roles,
    password_env,
    password_placeholder,
)
from services.settings import Settings

if TYPE_CHECKING:
    from services.ops.acl import AclUser

acl_app = typer.Typer(help="Redis ACL users, one per role, least privilege.", no_args_is_help=True)
app.add_typer(acl_app, name="acl")


class AclFormat(StrEnum):
    setuser = "setuser"
    aclfile = "aclfile"


def password_from_env(role: str) -> str:
    """FEES_ACL_<ROLE>_PASSWORD, or the file named by FEES_ACL_<ROLE>_PASSWORD_FILE."""
    name = password_env(role)
    value = os.environ.get(name)
    path = os.environ.get(name + "_FILE")
    if value is None and path:
        value = read_input(path, name + "_FILE").decode().strip()
    if not value:
        raise UsageProblem(f"{name}: not set (nor {name}_FILE); needed by --password-from-env")
    return value


@acl_app.command("print")
def acl_print(
    prefix: str | None = typer.Option(None, "--prefix", help="Key prefix (default FEES_PREFIX)"),
    user_suffix: str = typer.Option("", "--user-suffix", help="Appended to each user name"),
    password_from_env_: bool = typer.Option(
        False,
        "--password-from-env",
        help="Hash each role's password from FEES_ACL_<ROLE>_PASSWORD (or ..._FILE)",
    ),
    server_version: str = typer.Option(
        "7.0",
        "--server-version",
        help="Redis version the rules are for; below 7 there are no selectors or %R~ keys",
    ),
    output_format: AclFormat = typer.Option(
        AclFormat.setuser, "--format", help="setuser: redis-cli lines; aclfile: --aclfile"
    ),
    roles: list[str] = typer.Option(list(ROLES), "--role", help="Only these roles"),
    output: Path | None = typer.Option(None, "--output", help="Write to this file"),
) -> None:
    """Print the ACL users of every role (passwords hashed or as placeholders)."""
    key_prefix = prefix or Settings().prefix
    known_roles(roles)
    lines: list[str] = []
    if output_format is AclFormat.aclfile:
        admin = password_from_env("admin") if password_from_env_ else None
        lines.append(admin_aclfile_line(admin))
    for role in roles:
        secret = password_from_env(role) if password_from_env_ else password_placeholder(role)
        user = build_user(
            role,
            key_prefix,
            secret,
            user_suffix=user_suffix,
            server_version=server_version,
            password_is_rule=not password_from_env_,
        )
        lines.append(user.aclfile_line() if output_format is AclFormat.aclfile else user.setuser())
    text = "\n".join(lines) + "\n"
    if output is None:
        print(text, end="")
        return
    output.write_text(text)
    output.chmod(0o644)  # hashes only; the Redis container runs as another user


@acl_app.command("apply")
def acl_apply(
    prefix: str | None = typer.Option(None, "--prefix", help="Key prefix (default FEES_PREFIX)"),
    user_suffix: str = typer.Option("", "--user-suffix", help="Appended to each user name"),
    roles: list[str] = typer.Option(list(ROLES), "--role", help="Only these roles"),
) -> None:
    """Create (or reset) every role's user on the Redis of FEES_REDIS_URL, connected as an
    administrator (FEES_REDIS_USERNAME/PASSWORD); with FEES_REDIS_CLUSTER=1 on every node of
    the cluster, since Redis keeps ACL users per node. Passwords come from
    FEES_ACL_<ROLE>_PASSWORD (or ..._FILE), and each node gets the rules of its version."""
    from services.adapters.connection import sync_client
    from services.ops.apply import apply_users

    settings = Settings()
    key_prefix = prefix or settings.prefix
    known_roles(roles)
    secrets = {role: password_from_env(role) for role in roles}

    def users(version: str) -> list[AclUser]:
        return [
            build_user(
                role, key_prefix, secrets[role], user_suffix=user_suffix, server_version=version
            )
            for role in roles
        ]

    with sync_client(settings) as client:
        applied = apply_users(client, users)
    for node in applied:
        print(f"{node.node} (Redis {node.version}): {', '.join(node.users)}")


@app.command("config")
def config(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object"),
) -> None:
    """Print the effective settings (environment FEES_*, .env), secrets masked."""
    shown = Settings().masked()
    if json_output:
        print(json.dumps(shown, indent=2))
        return
    table = Table(title="Effective settings (FEES_*)")
    table.add_column("setting")
    table.add_column("value")
    for name, value in shown.items():
        table.add_row(name, "" if value is None else str(value))
    console.print(table)
