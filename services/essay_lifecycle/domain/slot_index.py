"""Where an essay, the upload that resolved a slot, or a content sits in a tracker's slots,
without a scan.

Every event is applied to a fresh copy of the batch's tracker, and a Python pass over 500 slots
costs about as much as the rest of handling the event: lookups must not scan. Two facts about a
registered tracker make a per-process index safe to keep across its revisions:

* its slots never move: the registration creates them, in order, and nothing adds, removes or
  reorders them after (an erased essay's slot is blanked in place, keeping its essay id);
* slots are resolved in slot order (an upload takes the first free slot) and stay resolved, so
  the resolved slots are a prefix, each keeping the event id that resolved it.

The index of a batch is keyed by what tells one registered tracker from another with the same
batch id (its registration, its creation to the nanosecond, its slot count). It learns which
upload resolved which slot only from revisions that were stored (`observe`): a revision's
resolved slots are then those of every later one, whereas a copy being changed may hold a slot
that a concurrent write resolved otherwise. The slots resolved after the last revision it saw are
scanned (a few: those of the other instance, or of the updates of one group commit), and every
slot it answers is checked against the tracker asked about.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from huleedu.internal.els.v1 import essay_state_pb2

BatchTracker = essay_state_pb2.BatchTracker
EssaySlot = essay_state_pb2.EssaySlot
# Twice ELS_CONSUMER_CONCURRENCY's default (64): at most that many batches have events in hand at
# once. A batch of 500 essays is indexed in about 190 KiB; one evicted is indexed again on use.
MAX_INDEXED_BATCHES = 128


def resolved_count(tracker: BatchTracker) -> int:
    """How many slots are resolved: they are a prefix of the slots, so a binary search finds
    its end."""
    slots = tracker.slots
    low, high = 0, len(slots)
    while low < high:
        middle = (low + high) // 2
        if slots[middle].resolved_by_event_id:
            low = middle + 1
        else:
            high = middle
    return low


@dataclass
class _Positions:
    by_essay_id: dict[str, int]
    by_upload_event_id: dict[str, int] = field(default_factory=dict)
    # The last slot each SHA-256 resolved (an erased essay's slot loses it; the same file may
    # then resolve a later slot).
    by_sha256: dict[str, int] = field(default_factory=dict)
    resolved: int = 0  # slots [0, resolved) are in by_upload_event_id and by_sha256


class SlotIndex:
    """The positions of the slots of the last `max_batches` registered trackers looked up."""

    def __init__(self, max_batches: int = MAX_INDEXED_BATCHES) -> None:
        self._max_batches = max_batches
        self._batches: OrderedDict[tuple[str, str, int, int, int], _Positions] = OrderedDict()

    def __len__(self) -> int:
        return len(self._batches)

    def find(self, tracker: BatchTracker, essay_id: str) -> EssaySlot | None:
        """The slot of `essay_id`, or None if the batch has no such essay."""
        position = self._positions(tracker).by_essay_id.get(essay_id)
        if position is not None and position < len(tracker.slots):
            slot = tracker.slots[position]
            if slot.essay.essay_id == essay_id:
                return slot
        # Not where the index says: an essay of no slot (an event in error), so a scan is cheap
        # enough and answers right even if two trackers ever shared a key.
        return next((slot for slot in tracker.slots if slot.essay.essay_id == essay_id), None)

    def resolved_by(self, tracker: BatchTracker, upload_event_id: str) -> EssaySlot | None:
        """The slot the upload `upload_event_id` resolved, or None."""
        positions = self._positions(tracker)
        resolved = resolved_count(tracker)
        slots = tracker.slots
        position = positions.by_upload_event_id.get(upload_event_id)
        if position is not None and position < resolved:
            slot = slots[position]
            return slot if slot.resolved_by_event_id == upload_event_id else None
        # Slots resolved since the last stored revision the index saw: another instance's, or
        # this process's own not yet stored (the updates before this one in a group commit).
        for unseen in range(min(positions.resolved, resolved), resolved):
            if slots[unseen].resolved_by_event_id == upload_event_id:
                return slots[unseen]
        return None

    def holding(self, tracker: BatchTracker, sha256: str) -> EssaySlot | None:
        """The slot whose content has this SHA-256, or None."""
        positions = self._positions(tracker)
        resolved = resolved_count(tracker)
        slots = tracker.slots
        position = positions.by_sha256.get(sha256)
        if (
            position is not None
            and position < resolved
            and slots[position].essay.content_sha256 == sha256
        ):
            return slots[position]
        for unseen in range(min(positions.resolved, resolved), resolved):
            if slots[unseen].essay.content_sha256 == sha256:
                return slots[unseen]
        return None

    def observe(self, stored: BatchTracker) -> None:
        """Learn the slots resolved in `stored`, a revision that was stored: only those, since
        a copy being changed may resolve a slot that a concurrent write then resolves otherwise
        (its compare-and-set fails and it is applied again to the winner's revision)."""
        positions = self._positions(stored)
        resolved = resolved_count(stored)
        for newly in range(positions.resolved, resolved):
            slot = stored.slots[newly]
            positions.by_upload_event_id[slot.resolved_by_event_id] = newly
            if slot.essay.content_sha256:
                positions.by_sha256[slot.essay.content_sha256] = newly
        positions.resolved = max(positions.resolved, resolved)

    def _positions(self, tracker: BatchTracker) -> _Positions:
        key = (
            tracker.batch_id,
            tracker.registration_event_id,
            tracker.created_at.seconds,
            tracker.created_at.nanos,
            len(tracker.slots),
        )
        positions = self._batches.get(key)
        if positions is None:
            positions = _Positions({slot.essay.essay_id: i for i, slot in enumerate(tracker.slots)})
            self._batches[key] = positions
            while len(self._batches) > self._max_batches:
                self._batches.popitem(last=False)
        self._batches.move_to_end(key)
        return positions
