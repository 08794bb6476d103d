"""Contract instances of values that are valid already: what the fee worker emits for every
report, built without validating again. Compiled with the worker's hot path (pyproject.toml's
`compiled`): interpreted, making one cost 2.5 times as much."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

# Each model's field names, once: every instance made here has them all set.
_ALL_FIELDS: dict[type[BaseModel], set[str]] = {}


def trusted(model: type[M], values: dict[str, Any]) -> M:
    """An instance of `values`, every field given by its Python name: what `model_construct`
    makes, without its per-field look-ups of aliases and defaults. Only for values computed by
    the engine from validated inputs; the contract tests validate what is emitted against the
    published schemas."""
    fields = model.__pydantic_fields__
    if len(values) != len(fields):
        missing = sorted(fields.keys() - values.keys())
        unknown = sorted(values.keys() - fields.keys())
        raise TypeError(f"trusted {model.__name__}: missing {missing}, unknown {unknown}")
    every = _ALL_FIELDS.get(model)
    if every is None:
        every = _ALL_FIELDS[model] = set(fields)
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", values)
    # One set per model: pydantic copies it before changing it (model_copy), and a frozen
    # model is never assigned to.
    object.__setattr__(instance, "__pydantic_fields_set__", every)
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance
