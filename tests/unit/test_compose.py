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
# The `cluster` profile: the same services on a three-master Redis Cluster.
CLUSTER_NODES = ("redis-node-1", "redis-node-2", "redis-node-3")
CLUSTER_APPS = {"projector-cluster": "projector", "fee-worker-cluster": "fee-worker"}


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
    assert set(ours) == {"acl-init", *APP_SERVICES, *CLUSTER_APPS}
    assert [str(a) for a in ours["projector"]["command"]][:2] == ["run", "projector"]
    assert [str(a) for a in ours["fee-worker"]["command"]][:2] == ["run", "fee-worker"]
    for name, service in ours.items():
        assert "build" in service, f"{name}: our image is built from the Dockerfile"
        _resolve([str(a) for a in service["command"]])


def _flags(service: dict[str, Any]) -> dict[str, str]:
    command = [str(part) for part in service["command"]]
    assert command[0] == "redis-server"
    return dict(zip(command[1::2], command[2::2], strict=False))


def test_the_cluster_profile_is_three_redis_7_masters_created_once(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    in_profile = {n for n, s in services.items() if "cluster" in s.get("profiles", [])}
    assert in_profile == {*CLUSTER_NODES, "redis-cluster-create", *CLUSTER_APPS}
    # `docker compose up` without the profile never needs one of its services.
    for name, service in services.items():
        if name not in in_profile:
            assert not set(service.get("depends_on", {})) & in_profile, name
    redis_flags = _flags(services["redis"])
    addresses, volumes = [], set()
    for name in CLUSTER_NODES:
        node = services[name]
        assert re.match(r"redis:7(\.\d+)*(-\w+)?$", node["image"]), node["image"]
        flags = _flags(node)
        assert flags["--cluster-enabled"] == "yes"
        assert (flags["--appendonly"], flags["--appendfsync"]) == ("yes", "everysec")
        # The same users as the single Redis, from acl-init's file (ACLs are per node).
        assert flags["--aclfile"] == redis_flags["--aclfile"]
        assert node["depends_on"]["acl-init"]["condition"] == "service_completed_successfully"
        mounts = dict(m.split(":", 2)[:2][::-1] for m in node["volumes"])  # target -> source
        data = mounts[flags["--dir"]]
        assert data in compose["volumes"] and data not in volumes, f"{name}: {data} shared"
        volumes.add(data)
        assert str(Path(flags["--cluster-config-file"]).parent) == flags["--dir"]
        assert mounts[str(Path(flags["--aclfile"]).parent)] == "redis-acl"
        assert "redis-cli ping" in " ".join(node["healthcheck"]["test"])
        addresses.append(node["networks"]["cluster"]["ipv4_address"])
    assert len(set(addresses)) == 3
    # The one-shot creation: every node, no replicas, no prompt; only once they answer.
    create = services["redis-cluster-create"]
    script = " ".join(str(part) for part in create["command"])
    assert re.match(r"redis:7(\.\d+)*(-\w+)?$", create["image"])
    assert create["restart"] == "no"
    assert "redis-cli --cluster create " + " ".join(f"{a}:6379" for a in addresses) in script
    assert "--cluster-replicas 0" in script and "--cluster-yes" in script
    assert "cluster_state:ok" in script  # a later `up` leaves an existing cluster alone
    for name in CLUSTER_NODES:
        assert create["depends_on"][name]["condition"] == "service_healthy"


def test_the_cluster_profile_runs_the_services_as_their_users_on_the_cluster(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    acl_init = _env(services["acl-init"])
    nodes = {services[n]["networks"]["cluster"]["ipv4_address"] for n in CLUSTER_NODES}
    for name, role in CLUSTER_APPS.items():
        service, single = services[name], services[name.removesuffix("-cluster")]
        env = _env(service)
        assert env["FEES_REDIS_CLUSTER"] == "1"
        host = env["FEES_REDIS_URL"].removeprefix("redis://").split(":")[0]
        assert host in CLUSTER_NODES or host in nodes, env["FEES_REDIS_URL"]
        assert "cluster" in service["networks"]
        assert env["FEES_REDIS_USERNAME"] == role
        own = _secret_file(compose, service, env["FEES_REDIS_PASSWORD_FILE"])
        hashed = _secret_file(compose, services["acl-init"], acl_init[password_env(role) + "_FILE"])
        assert own == hashed
        assert env["FEES_PREFIX"] == acl_init["FEES_PREFIX"]
        assert service["depends_on"] == {
            "redis-cluster-create": {"condition": "service_completed_successfully"}
        }
        # Otherwise the single-Redis service's twin: command, health check, scaling.
        assert service["command"] == single["command"]
        assert service["healthcheck"] == single["healthcheck"]
        assert not service.get("ports") and "container_name" not in service
        assert "FEES_CONSUMER" not in env


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
