"""How monitor events are keyed in Dagster: partition keys and run tags.

Shared by the definitions (:mod:`._monitor`) and the step that reads an
event (:mod:`._monitor_execution`).
"""

import hashlib
import re

__all__ = ["AFTER_TAG", "EVENT_TAG", "MONITOR_TAG", "monitor_partition_key"]

#: Tags of a run the sensor requested: which event, and the one before it
#: (so the run reads its event with one call: the events after that one).
MONITOR_TAG = "scout/monitor_id"
EVENT_TAG = "scout/monitor_event_id"
AFTER_TAG = "scout/monitor_event_after"
#: Event ids that are partition keys as they are; others are hashed. Not
#: "..." (Dagster's range syntax), and not what a hashed key looks like (an id
#: spelling another id's hash would share its partition).
_PLAIN_KEY = re.compile(r"(?!.*\.\.\.)(?!ev-[0-9a-f]{32}$)[A-Za-z0-9_.:-]{1,128}")


def monitor_partition_key(event_id: str) -> str:
    """The partition key of a monitor event: its id, or a hash of an id that
    a partition key cannot hold (slashes, spaces, ``...``, control characters,
    more than 128 characters, nothing) or that looks like a hashed key."""
    if _PLAIN_KEY.fullmatch(event_id):
        return event_id
    return "ev-" + hashlib.sha256(event_id.encode()).hexdigest()[:32]
