#!/usr/bin/env bash
# One entry point that sets everything up from nothing, then runs:
#   ./run.sh          the demo (the main job)
#   ./run.sh test     the whole test suite: ruff, ruff format, mypy --strict, pytest, then
#                     the unit tests once more on the compiled build (tests/compiled.py)
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh
case "${1:-demo}" in
  test)
    shift || true
    .venv/bin/ruff check services contracts tests
    .venv/bin/ruff format --check services contracts tests
    .venv/bin/mypy --strict services contracts
    .venv/bin/python -m contracts.generate --check
    .venv/bin/pytest -q "$@"
    # The unit tests again, on the compiled build (setup.py) that the benchmark measures.
    if [ $# -eq 0 ]; then .venv/bin/python -m tests.compiled; fi
    ;;
  demo)
    shift || true
    exec .venv/bin/feeschedule demo "$@"
    ;;
  *)
    exec .venv/bin/feeschedule "$@"
    ;;
esac
