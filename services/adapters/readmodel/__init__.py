"""The projector's read model in Redis: the domain's folded state in swappable generations.

`codec` is what a document holds (a timeline, its answers as known now, an agreement) and
`store` is `ReadModel`, the `ReadModelStore` port on Redis: its scripts, lookups, writes with
their checkpoint, and a new generation's creation and swap.
"""

from services.adapters.readmodel.store import ReadModel

__all__ = ["ReadModel"]
