"""Settings from the environment (FEES_*), and secrets masked wherever they are shown."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import FEESCHEDULE
from pydantic import ValidationError

from services.settings import MASK, Settings, mask_url


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No FEES_* or REDIS_URL from the outside, and no stray .env in the working directory."""
    for name in list(os.environ):
        if name.startswith("FEES_") or name == "REDIS_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://fee-worker:p%40ss:w0rd@host/1", "rediss://fee-worker:***@host/1"),
        ("redis://user:with@at@host", "redis://user:***@host"),
        ("redis://host:6379/0?password=s3cret&db=2", "redis://host:6379/0?password=***&db=2"),
        ("unix://:s3cret@/run/redis.sock?db=0", "unix://:***@/run/redis.sock?db=0"),
        ("redis://user@host:6379", "redis://user@host:6379"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        (None, None),
    ],
)
def test_mask_url_hides_every_password(url: str | None, shown: str | None) -> None:
    assert mask_url(url) == shown


def test_environment_is_read_with_the_fees_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEES_REDIS_URL", "rediss://redis.internal:6380/0")
    monkeypatch.setenv("FEES_REDIS_USERNAME", "fee-worker")
    monkeypatch.setenv("FEES_REDIS_PASSWORD", "s3cret")
    monkeypatch.setenv("FEES_PREFIX", "fund-a")
    monkeypatch.setenv("FEES_BATCH_SIZE", "250")
    monkeypatch.setenv("FEES_CLAIM_IDLE_MS", "60000")
    monkeypatch.setenv("FEES_MAX_DELIVERIES", "3")
    monkeypatch.setenv("FEES_DAY_COUNT", "ACT/360")
    monkeypatch.setenv("FEES_HTTP_PORT", "8000")
    settings = Settings()
    assert settings.redis_url == "rediss://redis.internal:6380/0"
    assert settings.tls
    assert (settings.redis_username, settings.password()) == ("fee-worker", "s3cret")
    assert settings.keys.agreements == "{fund-a}:agreements"
    assert (settings.batch_size, settings.claim_idle_ms, settings.max_deliveries) == (
        250,
        60000,
        3,
    )
    assert (settings.day_count, settings.http_port) == ("ACT/360", 8000)


def test_redis_url_falls_back_to_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://fallback:6379/0")
    assert Settings().redis_url == "redis://fallback:6379/0"
    assert not Settings().tls
    monkeypatch.setenv("FEES_REDIS_URL", "redis://own:6379/0")
    assert Settings().redis_url == "redis://own:6379/0"


def test_password_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "fee_worker_password"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("FEES_REDIS_PASSWORD_FILE", str(secret))
    assert Settings().password() == "from-a-file"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FEES_BATCH_SIZE", "lots"),
        ("FEES_BATCH_SIZE", "0"),
        ("FEES_DAY_COUNT", "30/360"),
        ("FEES_PREFIX", "has space"),
        ("FEES_HTTP_PORT", "70000"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert caught.value.errors()[0]["loc"] == (name.removeprefix("FEES_").lower(),)


def test_masked_settings_show_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEES_REDIS_URL", "redis://admin:url-secret@host:6379/0")
    monkeypatch.setenv("FEES_REDIS_PASSWORD", "env-secret")
    shown = Settings().masked()
    text = json.dumps(shown)
    assert "url-secret" not in text and "env-secret" not in text
    assert shown["redis_password"] == MASK
    assert shown["redis_url"] == "redis://admin:***@host:6379/0"


def test_config_command_prints_masked_settings(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "FEES_REDIS_URL": "rediss://projector:url-secret@redis:6379/0",
        "FEES_REDIS_PASSWORD": "env-secret",
        "FEES_PREFIX": "fund-a",
    }
    as_json = subprocess.run(
        [str(FEESCHEDULE), "config", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    shown = json.loads(as_json.stdout)
    assert shown["redis_url"] == "rediss://projector:***@redis:6379/0"
    assert (shown["redis_password"], shown["prefix"], shown["tls"]) == (MASK, "fund-a", True)
    table = subprocess.run(
        [str(FEESCHEDULE), "config"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    for output in (as_json.stdout, table.stdout):
        assert "url-secret" not in output and "env-secret" not in output
    assert "fund-a" in table.stdout


def test_config_command_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "FEES_BATCH_SIZE": "lots"}
    result = subprocess.run(
        [str(FEESCHEDULE), "config"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith('error: batch_size: "lots"')
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_block_longer_than_the_reply_timeout_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEES_REDIS_TIMEOUT_MS", "2000")
    monkeypatch.setenv("FEES_BLOCK_MS", "2000")
    with pytest.raises(ValidationError) as caught:
        Settings()
    error = caught.value.errors()[0]
    assert error["loc"] == ("block_ms",)
    assert "less than redis_timeout_ms (2000)" in error["msg"]
    monkeypatch.setenv("FEES_REDIS_TIMEOUT_MS", "0")  # no limit: any block will do
    assert Settings().block_ms == 2000
