"""The compiled pass (`python -m tests.compiled`) tests the compiled build, not the sources.

Run in the plain pass, the same check finds every module interpreted: the two passes import
different code, and each says which it ran.
"""

from __future__ import annotations

import importlib
import os
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from tests.compiled import EXPECT_ENV, compiled_modules


def _is_extension(module: str) -> bool:
    path = importlib.import_module(module).__file__
    assert path is not None
    return any(path.endswith(suffix) for suffix in EXTENSION_SUFFIXES)


def test_the_build_compiles_the_fee_workers_hot_path() -> None:
    modules = compiled_modules()
    assert {"services.domain.fees", "services.app.pricing", "contracts.wire"} <= set(modules)
    assert all(m.startswith(("services.", "contracts.")) for m in modules)


def test_each_pass_imports_the_code_it_says() -> None:
    build = os.environ.get(EXPECT_ENV)
    if build is None:  # the plain pass: the checkout's sources, never an extension
        assert not any(_is_extension(m) for m in compiled_modules())
        return
    for module in compiled_modules():
        assert _is_extension(module), module
        file = importlib.import_module(module).__file__
        assert file is not None and Path(file).is_relative_to(build), module
    # Nothing else: no extension left over from a build of another list.
    extensions = {
        ".".join((*p.relative_to(build).parts[:-1], p.name.split(".")[0]))
        for suffix in EXTENSION_SUFFIXES
        for p in Path(build).glob(f"*/**/*{suffix}")
    }
    assert {e.removesuffix(".__init__") for e in extensions} == set(compiled_modules())
