"""docker-compose.yml and the Dockerfile: what an operator relies on, checked without Docker.

Every command a service container runs is resolved against the real `feeschedule` CLI, so a
renamed or missing command fails here rather than in a crash-looping container.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from services.cli import app, register_service_commands
from services.ops.acl import ROLES, password_env

REPO = Path(__file__).resolve().parents[2]
OUR_IMAGE = "feeschedule:local"
APP_SERVICES = {"projector": "projector", "fee-worker": "fee-worker"}  # service -> ACL role


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _secret_file(compose: dict[str, Any], service: dict[str, Any], path: str) -> str:
    """The host file behind /run/secrets/<name>, checking the service mounts that secret."""
    name = path.removeprefix("/run/secrets/")
    assert path.startswith("/run/secrets/") and name in service.get("secrets", []), path
    file: str = compose["secrets"][name]["file"]
    return file


def test_redis_is_7_with_aof_everysec_on_a_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    redis = services["redis"]
    assert re.match(r"redis:7(\.\d+)*(-\w+)?$", redis["image"]), redis["image"]
    command = [str(part) for part in redis["command"]]
    flags = dict(zip(command[1::2], command[2::2], strict=False))
    assert command[0] == "redis-server"
    assert flags["--appendonly"] == "yes"
    assert flags["--appendfsync"] == "everysec"
    data_dir = flags["--dir"]
    mounts = dict(m.split(":", 2)[:2][::-1] for m in redis["volumes"])  # target -> source
    assert mounts[data_dir] in compose["volumes"], "AOF must live on a named volume"
    # Users come from an ACL file written before Redis starts.
    acl_file = flags["--aclfile"]
    assert mounts[str(Path(acl_file).parent)] in compose["volumes"]
    assert redis["depends_on"]["acl-init"]["condition"] == "service_completed_successfully"
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])


def test_each_service_connects_as_its_own_acl_user(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    acl_init = _env(services["acl-init"])
    users = set()
    for name, role in APP_SERVICES.items():
        env = _env(services[name])
        assert env["FEES_REDIS_USERNAME"] == role
        assert "FEES_REDIS_PASSWORD" not in env, f"{name}: password in plain environment"
        own = _secret_file(compose, services[name], env["FEES_REDIS_PASSWORD_FILE"])
        # The password the service presents is the one acl-init hashed for its user.
        hashed = _secret_file(compose, services["acl-init"], acl_init[password_env(role) + "_FILE"])
        assert own == hashed, f"{name}: connects with {own}, user created from {hashed}"
        assert env["FEES_REDIS_URL"].startswith("redis://redis:")
        assert env["FEES_PREFIX"] == acl_init["FEES_PREFIX"]
        users.add(role)
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert len(users) == len(APP_SERVICES)
    for role in (*ROLES, "admin"):  # every role's user (and the admin) gets a password
        _secret_file(compose, services["acl-init"], acl_init[password_env(role) + "_FILE"])


def test_fee_worker_scales(services: dict[str, dict[str, Any]]) -> None:
    worker = services["fee-worker"]
    assert "container_name" not in worker
    assert "hostname" not in worker
    assert not worker.get("ports"), "a fixed host port stops --scale fee-worker=N"
    assert "FEES_CONSUMER" not in _env(worker), "the consumer name must come from the hostname"


def test_services_have_health_checks_on_their_http_port(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in APP_SERVICES:
        env = _env(services[name])
        assert env["FEES_HTTP_HOST"] == "0.0.0.0"
        test = " ".join(services[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{env['FEES_HTTP_PORT']}/health" in test, test


def _resolve(args: list[str]) -> None:
    """Fails unless `feeschedule ARGS` names a real command with real options."""
    node: Any = typer.main.get_command(register_service_commands())
    path: list[str] = []
    rest = list(args)
    while rest and hasattr(node, "commands"):
        token = rest[0]
        assert token in node.commands, (
            f"`feeschedule {' '.join([*path, token])}`: no such command "
            f"(have: {', '.join(sorted(node.commands))})"
        )
        node = node.commands[token]
        path.append(rest.pop(0))
    assert not hasattr(node, "commands"), f"`feeschedule {' '.join(path)}` needs a subcommand"
    options = {opt for param in node.params for opt in param.opts if opt.startswith("-")}
    positional = [p for p in node.params if not any(o.startswith("-") for o in p.opts)]
    values: list[str] = []
    while rest:
        token = rest.pop(0)
        if token.startswith("-"):
            assert token in options, f"`feeschedule {' '.join(path)}`: no option {token}"
            param = next(p for p in node.params if token in p.opts)
            if not getattr(param, "is_flag", False):
                rest.pop(0)
        else:
            values.append(token)
    assert len(values) <= len(positional), f"`feeschedule {' '.join(args)}`: too many arguments"
    for param, value in zip(positional, values, strict=False):
        choices = _choices(param)
        if choices is not None:
            assert value in choices, f"`feeschedule {' '.join(args)}`: {value!r} not in {choices}"
        else:
            _accepted_by_the_command(path, value)


def _choices(param: Any) -> set[str] | None:
    """The allowed values of an Enum/Choice argument (typer's descriptor, or click's type)."""
    found = getattr(getattr(param, "type_descriptor", None), "choices", None)
    found = found or getattr(getattr(param, "type", None), "choices", None)
    return None if found is None else {str(getattr(c, "value", c)) for c in found}


def _accepted_by_the_command(path: list[str], value: str) -> None:
    """A free-text argument: the command must reject a bogus value and not this one.

    Runs with no Redis configured, so a valid value stops at "no Redis" instead of running.
    """
    runner = CliRunner()
    # An empty FEES_REDIS_URL also beats a FEES_REDIS_URL in a developer's .env file.
    no_redis = {"FEES_REDIS_URL": "", "REDIS_URL": None}
    bogus = runner.invoke(app, [*path, "zz-not-a-value"], env=no_redis)
    assert "zz-not-a-value" in str(bogus.exception), (
        f"`feeschedule {' '.join(path)}` does not validate its argument before needing Redis;"
        " cannot tell whether the compose value is valid"
    )
    result = runner.invoke(app, [*path, value], env=no_redis)
    assert value not in str(result.exception), f"`feeschedule {' '.join(path)} {value}`: refused"


def test_every_command_in_compose_exists_in_the_cli(services: dict[str, dict[str, Any]]) -> None:
    ours = {n: s for n, s in services.items() if s.get("image") == OUR_IMAGE}
    assert set(ours) == {"acl-init", *APP_SERVICES}
    assert [str(a) for a in ours["projector"]["command"]][:2] == ["run", "projector"]
    assert [str(a) for a in ours["fee-worker"]["command"]][:2] == ["run", "fee-worker"]
    for name, service in ours.items():
        assert "build" in service, f"{name}: our image is built from the Dockerfile"
        _resolve([str(a) for a in service["command"]])


def test_resolving_a_missing_command_fails() -> None:
    with pytest.raises(AssertionError, match="no such command"):
        _resolve(["acl", "nonesuch"])
    with pytest.raises(AssertionError, match="no option --nonesuch"):
        _resolve(["acl", "print", "--nonesuch"])


def test_dockerfile_builds_a_non_root_feeschedule_image() -> None:
    text = (REPO / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    assert lines[0] == "FROM python:3.11-slim"
    assert any(re.match(r"RUN pip install \.( |$)", line) for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the service must not run as root"
    assert 'ENTRYPOINT ["feeschedule"]' in lines
    # acl-init writes the ACL file as that user into /acl.
    assert "chown feeschedule /acl" in text
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", ".git", "deploy/secrets"} <= set(ignored)
