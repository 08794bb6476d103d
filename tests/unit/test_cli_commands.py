"""The `feeschedule` entry point: it imports only the module of the command it runs (its table
must name, for every command, the module that really registers it, else that command would be
missing), and it reports Redis trouble in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import FEESCHEDULE

from services.cli import COMMAND_MODULES, SERVICE_COMMAND_MODULES

# In a fresh interpreter: which commands each module adds to `app` when imported alone.
_WHO_REGISTERS = """
import importlib, json, sys
from services.cli import app

def names():
    commands = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    return commands | {g.name for g in app.registered_groups}

before = names()
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(names() - before)))
"""


def test_every_command_is_in_the_table_under_the_module_that_registers_it() -> None:
    found: dict[str, str] = {}
    for module in SERVICE_COMMAND_MODULES:
        done = subprocess.run(
            [sys.executable, "-c", _WHO_REGISTERS, module],
            capture_output=True,
            text=True,
            check=True,
        )
        for command in json.loads(done.stdout):
            found[command] = module
    assert found == COMMAND_MODULES


def test_a_parse_starts_without_the_services_runtime() -> None:
    """`feeschedule parse` loads neither FastStream nor the Redis client."""
    probe = (
        "import sys\n"
        "sys.argv = ['feeschedule', 'parse', '--help']\n"
        "from services.cli import main\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'faststream', 'redis'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_an_unreachable_redis_is_one_line_not_a_traceback() -> None:
    env = {**os.environ, "FEES_REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing listens on 1
    done = subprocess.run(
        [str(FEESCHEDULE), "history", "P1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: redis: ") and "127.0.0.1:1" in line


@pytest.mark.parametrize(
    "command",
    [
        ["close", "--month", "2024-01"],
        ["statement", "P1", "--month", "2024-01"],
        ["history", "P1"],
        ["accruals", "P1", "--from", "2024-01-01", "--to", "2024-01-31"],
        ["run", "fee-worker"],
    ],
)
def test_no_redis_configured_is_one_line_and_status_2(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {"FEES_REDIS_URL": ""}
    done = subprocess.run(
        [str(FEESCHEDULE), *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: no Redis: set FEES_REDIS_URL or REDIS_URL (e.g. redis://127.0.0.1:6379/0)"
    ]


def test_an_amend_starts_without_faststream() -> None:
    """The recorder's commands need a Redis client but no broker: fifty `amend` processes
    started at once (tests/e2e/test_contended_amend_cli.py) each pay only for what they use."""
    probe = (
        "import sys\n"
        "sys.argv = ['feeschedule', 'amend', '--help']\n"
        "from services.cli import main\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'faststream', 'redis'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "['redis']"
