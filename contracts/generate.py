"""Regenerate contracts/schemas/*.json from the models: `python -m contracts.generate`.

`--check` exits 1 when a committed file differs from what the models generate (CI staleness).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from contracts.messages import ALL_MESSAGES

SCHEMA_DIR = Path(__file__).parent / "schemas"


def schemas() -> dict[str, str]:
    out: dict[str, str] = {}
    for model in ALL_MESSAGES:
        schema = model.model_json_schema(by_alias=True, mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"urn:feeschedule:contracts:{model.__name__}:v{model.SCHEMA_VERSION}"
        out[f"{model.__name__}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, text in schemas().items():
        path = SCHEMA_DIR / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            SCHEMA_DIR.mkdir(exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"stale schemas (run python -m contracts.generate): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
