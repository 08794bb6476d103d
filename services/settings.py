"""Runtime settings, from the environment (prefix `FEES_`) or a `.env` file.

Secrets (the Redis password) come from the environment or a file, never from code;
`feeschedule config` prints the effective settings with secrets masked.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.adapters.keys import Keys


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FEES_", env_file=".env", extra="ignore")

    redis_url: str | None = Field(
        default=None,
        validate_default=True,
        description="redis:// or rediss:// (TLS) URL; falls back to REDIS_URL, then embedded",
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
    day_count: str = Field(default="ACT/365F", pattern=r"^(ACT/365F|ACT/ACT|ACT/360)$")
    rounding: str = Field(default="ROUND_HALF_UP:0.01")
    http_port: int = Field(default=0, ge=0, le=65535, description="health/metrics; 0 = off")

    @field_validator("redis_url", mode="before")
    @classmethod
    def _fallback_url(cls, value: str | None) -> str | None:
        return value or os.environ.get("REDIS_URL") or None

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix)

    def password(self) -> str | None:
        if self.redis_password is not None:
            return self.redis_password.get_secret_value()
        if self.redis_password_file is not None:
            return self.redis_password_file.read_text().strip()
        return None
