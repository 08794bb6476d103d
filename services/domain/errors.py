"""The one error type of the domain: it names the field and the value that broke a rule."""

from __future__ import annotations


class DomainError(ValueError):
    """A rule of the domain was broken by `value` in `field`."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field}: {value!r} {problem}")


class UsageProblem(Exception):
    """A request that cannot be carried out as asked: one line for the operator, status 2."""
