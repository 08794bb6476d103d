"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _corpus_dir() -> Path:
    override = os.environ.get("FEES_CORPUS_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real-filings corpus (../shared/corpus); absent on a user's fresh clone."""
    path = _corpus_dir()
    if not (path / "docs").is_dir() or not (path / "expected").is_dir():
        pytest.skip(f"filings corpus not found at {path} (set FEES_CORPUS_DIR to point at it)")
    return path
