"""The build. Plain Python by default; with FEES_COMPILE=1 the modules `[tool.feeschedule]
compiled` names (pyproject.toml) are compiled with mypyc as well, as mypy and black ship theirs.

    FEES_COMPILE=1 pip install --no-build-isolation --no-deps .

mypyc type-checks what it compiles, so it runs in an environment that has the project's
dependencies (`pip install '.[dev]'` first): hence no build isolation.
"""

from __future__ import annotations

import glob
import os
import tomllib
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def compiled_modules() -> list[str]:
    """The paths (relative to this directory) of the modules the compiled build compiles;
    tests/compiled.py reads them here too."""
    patterns = tomllib.loads((HERE / "pyproject.toml").read_text())["tool"]["feeschedule"]
    found = {path for pattern in patterns["compiled"] for path in glob.glob(pattern, root_dir=HERE)}
    return sorted(found)


if __name__ == "__main__":  # as setuptools runs it (imported, it only lends compiled_modules)
    if os.environ.get("FEES_COMPILE") == "1":
        from mypyc.build import mypycify

        setup(ext_modules=mypycify(compiled_modules(), opt_level="3"))
    else:
        setup()
