"""Runtime settings, from the environment (prefix `FEES_`) or a `.env` file.

Secrets (the Redis password) come from the environment or a file, never from code;
`feeschedule config` prints the effective settings with secrets masked.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.adapters.keys import Keys


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FEES_", env_file=".env", extra="ignore")

    redis_url: str | None = Field(
        default=None,
        validate_default=True,
        description="redis:// or rediss:// (TLS) URL; falls back to REDIS_URL, then embedded",
    )
    redis_cluster: bool = Field(
        default=False, description="connect to a Redis Cluster (redis_url names any one node)"
    )
    partitions: int = Field(
        default=1,
        ge=1,
        le=1024,
        description="net-asset intake partitions: a portfolio's reports go to CRC-32 of its id"
        " mod this (contracts/partitions.py); 1 keeps one stream and the unpartitioned keys",
    )
    redis_timeout_ms: int = Field(
        default=60_000,
        ge=0,
        description="how long a Redis command waits for its reply before it fails (0: no limit);"
        " redis-py 8 alone gives up after 5 s, as while Redis pauses writes or a node fails over",
    )
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    redis_password_file: Path | None = None
    prefix: str = Field(default="fees", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    consumer: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    batch_size: int = Field(default=500, ge=1, le=10_000)
    block_ms: int = Field(default=1000, ge=1)
    claim_idle_ms: int = Field(default=30_000, ge=0)
    max_deliveries: int = Field(default=5, ge=1)
    record_deadline_ms: int = Field(
        default=30_000,
        ge=0,
        description="how long a recorder command retries version clashes with other writers",
    )
    group_wait_ms: int = Field(
        default=0,
        ge=0,
        description="a group's day waits this long for its members' reports, then is priced"
        " provisionally on those that came, looked for every tenth of it (0: it waits for every"
        " member)",
    )
    gap_refresh_ms: int = Field(
        default=15_000,
        ge=1,
        description="how often the fee worker counts accrual gaps (less often when a count takes"
        " more than a twentieth of it)",
    )
    day_count: str = Field(default="ACT/365F", pattern=r"^(ACT/365F|ACT/ACT|ACT/360)$")
    rounding: str = Field(default="ROUND_HALF_UP:0.01")
    http_port: int = Field(default=0, ge=0, le=65535, description="health/metrics; 0 = off")
    http_host: str = Field(default="127.0.0.1", description="0.0.0.0 to be scraped from outside")

    @field_validator("block_ms")
    @classmethod
    def _block_within_timeout(cls, value: int, info: ValidationInfo) -> int:
        # A read blocked longer than a reply may take would fail as a lost connection.
        timeout = info.data.get("redis_timeout_ms")
        if timeout and value >= timeout:
            raise ValueError(f"must be less than redis_timeout_ms ({timeout}): blocked reads fail")
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _fallback_url(cls, value: str | None) -> str | None:
        return value or os.environ.get("REDIS_URL") or None

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix)

    @property
    def lanes(self) -> list[Keys]:
        """The fee-worker keys of every partition (one: the unpartitioned names)."""
        return self.keys.lanes(self.partitions)

    def password(self) -> str | None:
        if self.redis_password is not None:
            return self.redis_password.get_secret_value()
        if self.redis_password_file is not None:
            return self.redis_password_file.read_text().strip()
        return None

    @property
    def tls(self) -> bool:
        return bool(self.redis_url) and str(self.redis_url).startswith("rediss://")

    def masked(self) -> dict[str, Any]:
        """The effective settings for display: every secret shown as `***`."""
        shown = self.model_dump(mode="json")
        shown["redis_url"] = mask_url(self.redis_url)
        shown["redis_password"] = MASK if self.redis_password is not None else None
        shown["tls"] = self.tls
        return shown


MASK = "***"


def mask_url(url: str | None) -> str | None:
    """The URL with its password (in the userinfo or a `password=` query) replaced by `***`."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc, query = parts.netloc, parts.query
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{hostport}"
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(k.lower() == "password" for k, _ in pairs):
        query = urlencode([(k, MASK if k.lower() == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
