"""The compiled build of this checkout (setup.py with FEES_COMPILE=1), for the benchmark and for
the test pass that runs the unit tests on it.

    python -m tests.compiled        # build it (or find it built), then run tests/unit on it

The build goes into .build/compiled/<digest of the sources>/, a directory importable in place
of the checkout: the compiled modules beside the rest of the sources, as `pip install --target`
puts them. The checkout itself never holds a compiled module, so an edit to a .py is never
shadowed by a stale extension.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILDS = ROOT / ".build" / "compiled"
# The unit tests' check that what they import is the compiled build (tests/unit/test_compiled.py).
EXPECT_ENV = "FEES_EXPECT_COMPILED"
SCRATCH = "building-"


class CompileFailed(RuntimeError):
    """The build failed: no C compiler, or mypyc refused a module (its output says which)."""


def compiled_modules() -> list[str]:
    """The names, as imported, of the modules setup.py compiles (its `compiled_modules`)."""
    spec = importlib.util.spec_from_file_location("feeschedule_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)
    return [
        ".".join(Path(p).with_suffix("").parts).removesuffix(".__init__")
        for p in setup.compiled_modules()
    ]


def _digest() -> str:
    """What the build depends on: every source of the packages, the build's own files, and
    the Python and mypyc that compile them."""
    import mypy.version

    digest = hashlib.sha256(f"{sys.version}|{mypy.version.__version__}".encode())
    sources = [ROOT / "setup.py", ROOT / "pyproject.toml"]
    for package in ("services", "contracts"):
        sources += sorted(p for p in (ROOT / package).rglob("*") if p.is_file())
    for path in sources:
        if "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _copy_sources(into: Path) -> None:
    """What the build reads, in a fresh directory: setuptools would otherwise take up whatever
    an earlier build left in the checkout's build/ (a module compiled then, and no longer)."""
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, into / name)
    for package in ("services", "contracts"):
        shutil.copytree(
            ROOT / package, into / package, ignore=shutil.ignore_patterns("__pycache__")
        )


def compiled_build() -> Path:
    """The directory of this checkout's compiled build, built if it is not there yet."""
    target = BUILDS / _digest()
    if target.is_dir():
        return target
    BUILDS.mkdir(parents=True, exist_ok=True)
    _drop_stale()
    scratch = tempfile.mkdtemp(dir=BUILDS, prefix=SCRATCH)
    with tempfile.TemporaryDirectory() as source:
        _copy_sources(Path(source))
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation"]
        command += ["--no-deps", "--target", scratch, source]
        env = {**os.environ, "FEES_COMPILE": "1"}
        done = subprocess.run(command, env=env, cwd=source, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        raise CompileFailed(f"the compiled build failed:\n{(done.stdout + done.stderr)[-4000:]}")
    try:
        os.rename(scratch, target)  # whole or not at all: a build cut short is never found
    except OSError:  # another process built the same sources meanwhile: theirs is as good
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _drop_stale() -> None:
    """Builds of other sources, and scratch directories abandoned over an hour ago (a build
    running in another process now keeps its own)."""
    for path in BUILDS.iterdir():
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:  # dropped by another process just now
            continue
        if not path.name.startswith(SCRATCH) or age > 3600:
            shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    """Run tests/unit on the compiled build: the same tests, on what the benchmark measures."""
    if sysconfig.get_config_var("CC") is None or shutil.which("cc") is None:
        print("compiled pass skipped: this machine has no C compiler (the build needs one)")
        return
    try:
        build = compiled_build()
    except CompileFailed as exc:
        sys.exit(str(exc))
    print(f"compiled build: {build.relative_to(ROOT)} ({len(compiled_modules())} modules)")
    # pytest puts `pythonpath` first on sys.path: the build comes before the checkout's sources
    # (the test directories it adds hold no package of the service).
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    # pytest splits the option as a shell would: quoted, a path with spaces stays one path.
    command += ["-o", f"pythonpath={shlex.join([str(build), str(ROOT)])}", "tests/unit"]
    command += sys.argv[1:]
    env = {**os.environ, EXPECT_ENV: str(build)}
    sys.exit(subprocess.run(command, env=env, cwd=ROOT).returncode)


if __name__ == "__main__":
    main()
