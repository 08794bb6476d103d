"""The projector's read model in Redis: per-portfolio timelines in swappable generations.

A generation is six keys under `keys.read_model(gen)`: `:portfolios` (hash: portfolio id ->
JSON document with every schedule and name version and its provenance), `:now` (hash: portfolio
id -> index of answer start dates, and the answers as known now), `:names` (hash: folded name or
id -> portfolio id, renames included), `:amendments` (hash: agreement#number -> the portfolio
ids it touched, for retractions), `:agreements` (hash: agreement id -> terms) and `:checkpoint`
(the last log position applied). `keys.read_model_pointer` names the current generation. Every
write moves the documents and the checkpoint together (one Lua script), and every read resolves
the pointer and reads inside one Lua script, so no reader mixes generations.

Documents are folded with the domain's own steps (`versions_of`, `names_of`, the retraction
rule of `ScheduleTimeline`) that the audit replay's `ScheduleBook` uses, and answers come from
the same `ScheduleTimeline` (`segments_now` for the `:now` answers), so replay and read model
agree by construction.

The package, module by module: `naming` (generation ids and the fields of a generation's
hashes), `documents` (the stored document format and its conversions to and from the domain's
`ScheduleTimeline`), `projection` (log entries decoded and folded into document rows, live and
in a rebuild alike), `rebuild` (folding the whole log into a new generation) and `store`
(`ReadModel`: the Lua scripts, lookups, live writes, catch-up and the swap).
"""

from services.adapters.readmodel.documents import timeline_from_doc
from services.adapters.readmodel.store import Lookup, ReadModel

__all__ = ["Lookup", "ReadModel", "timeline_from_doc"]
