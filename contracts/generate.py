"""Regenerate contracts/schemas/*.json and contracts/examples/ from the models:
`python -m contracts.generate`.

`--check` exits 1 when a committed file differs from what the models generate (CI staleness).

The schemas are pydantic's, made strict-validator clean (`strict_schema`): every one compiles in
ajv's strict mode, and python-jsonschema, ajv and pydantic give every document the same verdict.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contracts.amendment_file import AMENDMENT_FILE_EXAMPLE, AmendmentFile
from contracts.messages import ALL_MESSAGES
from contracts.statement import MonthStatement

CONTRACTS_DIR = Path(__file__).parent
SCHEMA_DIR = CONTRACTS_DIR / "schemas"
EXAMPLES_DIR = CONTRACTS_DIR / "examples"
SCHEMA_MODELS: tuple[type[BaseModel], ...] = (*ALL_MESSAGES, AmendmentFile, MonthStatement)
"""Every model with a published schema: the messages, the file `amend --file` takes, and the
month statement `statement --json` prints."""


def strict_schema(node: Any) -> Any:
    """`node` with what strict JSON Schema validators refuse or read differently rewritten.

    - `discriminator` (OpenAPI's, with a mapping) is dropped: it is not JSON Schema, ajv's strict
      mode refuses it, and the `oneOf` beside it already decides alone, since each branch
      fixes the tag (`action`) to its own values.
    - a `pattern` ending in `$` gets `(?!\\n)`: python-jsonschema matches with Python's
      `re.search`, where `$` also matches before a final newline ("5\\n"); ECMA-262 (ajv) and
      pydantic's Rust regex do not. With it every engine refuses the newline.
    """
    if isinstance(node, dict):
        out = {k: strict_schema(v) for k, v in node.items() if k != "discriminator"}
        pattern = out.get("pattern")
        if isinstance(pattern, str) and pattern.endswith("$"):
            out["pattern"] = pattern + r"(?!\n)"
        return out
    if isinstance(node, list):
        return [strict_schema(v) for v in node]
    return node


def schemas() -> dict[str, str]:
    out: dict[str, str] = {}
    for model in SCHEMA_MODELS:
        schema = strict_schema(model.model_json_schema(by_alias=True, mode="serialization"))
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        version = getattr(model, "SCHEMA_VERSION", 1)
        schema["$id"] = f"urn:feeschedule:contracts:{model.__name__}:v{version}"
        out[f"{model.__name__}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def generated() -> dict[Path, str]:
    files = {SCHEMA_DIR / name: text for name, text in schemas().items()}
    # The example the project ships, in the order a person writes it (not sorted, as schemas are).
    files[EXAMPLES_DIR / "amendment.json"] = json.dumps(AMENDMENT_FILE_EXAMPLE, indent=2) + "\n"
    return files


def main(argv: list[str]) -> int:
    files = generated()
    if "--check" not in argv:
        for path, text in files.items():
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
        return 0
    stale = [p.name for p, text in files.items() if not p.exists() or p.read_text() != text]
    if stale:
        print(f"stale contracts (run python -m contracts.generate): {', '.join(stale)}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
