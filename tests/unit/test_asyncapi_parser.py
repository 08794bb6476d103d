"""contracts/asyncapi.yaml parsed by the AsyncAPI project's own parser (@asyncapi/parser).

Runs tools/asyncapi-check/validate.mjs with the machine's Node. `npm install` runs only when
node_modules lacks the parser (about 16 s); it never writes a package-lock.json.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from node_tools import npm_install

from contracts.messages import ALL_MESSAGES

ROOT = Path(__file__).resolve().parents[2]
CHECK_DIR = ROOT / "tools" / "asyncapi-check"
DOCUMENT = ROOT / "contracts" / "asyncapi.yaml"


def _npm_install() -> None:
    npm_install(CHECK_DIR, "@asyncapi/parser")


@pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="Node.js (node and npm) is not installed: the AsyncAPI parser check needs it",
)
def test_asyncapi_parser_accepts_the_document() -> None:
    _npm_install()
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, "validate.mjs", str(DOCUMENT)],
        cwd=CHECK_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    messages = len(ALL_MESSAGES)
    assert f"OK: AsyncAPI 3.0.0 with 8 channels, {messages} messages" in report, report
    assert not [line for line in report.splitlines() if line.startswith("error:")], report


def test_the_check_fails_on_a_broken_document(tmp_path: Path) -> None:
    """The check can fail: a message whose payload points nowhere is an error."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js (node and npm) is not installed: the AsyncAPI parser check needs it")
    _npm_install()
    broken = tmp_path / "broken.yaml"
    text = DOCUMENT.read_text()
    broken.write_text(
        text.replace("$ref: '#/components/schemas/FeeAccrued'", "$ref: '#/nowhere'", 1)
    )
    assert broken.read_text() != text
    done = subprocess.run(
        ["node", "validate.mjs", str(broken)],
        cwd=CHECK_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error:" in done.stdout
