"""Objects that BFCL's simulations share between API instances, as one value per scored entry.

At the data's commit (gorilla cd9429c) some state is not owned by an instance:
- `TwitterAPI.post_tweet(content, tags=[], mentions=[])` has mutable defaults, so every tweet
  posted without tags or mentions holds the same list, and `mention` on one of them adds the
  names to all of them, in the model's and in the ground truth's instance alike;
- the long-context `TravelAPI` puts the module-level filler credit cards and bookings into
  its lists by reference, so a charge to a filler card shows in both instances.
Both change verdicts (a ground-truth result read after the model changed the shared object
no longer matches the model's), so evalkit reproduces them: the scorer gives the model's and
the ground truth's worlds one `SharedDefaults`. In BFCL the objects live for the whole
process, so what one entry does to them carries over to later entries in the order the run
happens to take; evalkit starts every entry from fresh ones (a deviation whose measured
effect is in BENCHMARKS.md, "BFCL multi-turn against gorilla's code").
"""

from __future__ import annotations

from typing import Any

from evalkit.benchmarks.bfcl.multi_turn.long_context import fresh


class SharedDefaults:
    """The shared objects of one entry (a fresh set per scored episode)."""

    def __init__(self) -> None:
        self.tweet_tags: list[Any] = []
        self.tweet_mentions: list[Any] = []
        self._travel: dict[str, dict[str, dict[str, object]]] | None = None

    def travel_filler(self) -> dict[str, dict[str, dict[str, object]]]:
        """The long-context filler cards and bookings, one copy for every TravelAPI here."""
        if self._travel is None:
            self._travel = {
                "CREDIT_CARD_EXTENSION": fresh("CREDIT_CARD_EXTENSION"),
                "BOOKING_RECORD_EXTENSION": fresh("BOOKING_RECORD_EXTENSION"),
            }
        return self._travel
