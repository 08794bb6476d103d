"""Installing a tools/ folder's Node packages for the tests that run them (once per machine).

`npm install` runs only when one of the given packages is missing; it never writes a
package-lock.json.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def npm_install(check_dir: Path, *packages: str) -> None:
    modules = check_dir / "node_modules"
    if all((modules / name / "package.json").exists() for name in packages):
        return
    npm = shutil.which("npm")
    assert npm is not None
    done = subprocess.run(
        [npm, "install", "--no-package-lock", "--no-audit", "--no-fund"],
        cwd=check_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"npm install failed:\n{done.stdout}\n{done.stderr}"
