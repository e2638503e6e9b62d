"""The Redis side of :class:`~snowplow_logging.redis.RedisWorker`: named, atomic moves.

:class:`ProcessingList` holds a worker's keys and the two Lua scripts that move
events between them: a batch from the shared list to the worker's processing
list (each move named, so that one whose reply was lost is asked again and
returns what it moved), and resolved items out of the processing list (to the
dead letters when refused).
"""

from __future__ import annotations

import uuid
from typing import Final, cast

from snowplow_logging._redis_client import redis_module

__all__ = ["MOST_PER_CALL", "ProcessingList", "Raw"]

_redis = redis_module
Raw = bytes | str
"""One list item, as redis-py returns it."""
MOST_PER_CALL: Final = 1000  # Lua's unpack() has a stack limit near 8000
"""Most items one script call moves or removes."""

# Moves up to ARGV[1] items from the head of KEYS[1] to the tail of KEYS[2], as
# one atomic step (a script runs alone): a batch in one round trip, where
# pipelined LMOVEs cost a command per event. ARGV[2] names this move: KEYS[3]
# keeps the name and size of the last move that moved something, and a call
# under that name again (the reply was lost and the client or the worker
# repeats it) returns that batch, which is still the tail of KEYS[2] (only
# this worker appends there and it removes only items it was given), instead
# of moving another one and stranding the first.
_TAKE_LUA: Final = """
local last = redis.call('HMGET', KEYS[3], 'move', 'count')
if last[1] == ARGV[2] then
  return redis.call('LRANGE', KEYS[2], -tonumber(last[2]), -1)
end
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], #items, -1)
  redis.call('RPUSH', KEYS[2], unpack(items))
  redis.call('HSET', KEYS[3], 'move', ARGV[2], 'count', #items)
end
return items
"""
# Removes each item ARGV[3..] once from KEYS[1], from its head when it is there
# (the emitter resolves events in order, so that is the usual case and costs
# O(1)), and appends it to KEYS[2] if ARGV[1] is '1'. ARGV[2] names this call:
# KEYS[3] keeps the name of the last one, and the same call again (its reply was
# lost and redis-py repeated it) does nothing, instead of removing a second copy
# of an item pushed twice and appending the dead letters a second time.
_SETTLE_LUA: Final = """
if redis.call('HGET', KEYS[3], 'settle') == ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[3], 'settle', ARGV[2])
for i = 3, #ARGV do
  local item = ARGV[i]
  if redis.call('LINDEX', KEYS[1], 0) == item then
    redis.call('LPOP', KEYS[1])
  else
    redis.call('LREM', KEYS[1], 1, item)
  end
  if ARGV[1] == '1' then
    redis.call('RPUSH', KEYS[2], item)
  end
end
return #ARGV - 2
"""


class ProcessingList:
    """One worker's processing list ``<key>:processing:<name>`` and its moves.

    At most one move is pending at a time: :meth:`plan_move` names it and
    :meth:`move` asks it until it is answered (a Redis error leaves it
    pending, to be asked again under the same name). The methods that talk
    to Redis raise ``redis.RedisError``; this class does no retrying.

    Args:
        redis: the client.
        key: the list producers push to.
        name: the worker's name.
        dead_letter_key: where refused items go; None drops them.
    """

    def __init__(
        self, redis: _redis.Redis, *, key: str, name: str, dead_letter_key: str | None
    ) -> None:
        self._redis = redis
        self.key = key
        self.processing_key = f"{key}:processing:{name}"
        self.takes_key = f"{key}:takes:{name}"
        self.dead_letter_key = dead_letter_key
        self._take_script = redis.register_script(_TAKE_LUA)
        self._settle_script = redis.register_script(_SETTLE_LUA)
        self._move: tuple[str, int] | None = None  # (name, most items) unanswered

    @property
    def move_pending(self) -> bool:
        """Whether a planned move has not been answered yet."""
        return self._move is not None

    def plan_move(self, count: int) -> None:
        """Name a new move of up to ``count`` items (at most :data:`MOST_PER_CALL`)."""
        self._move = (uuid.uuid4().hex, min(count, MOST_PER_CALL))

    def move(self) -> list[Raw]:
        """Ask the pending move; the items it moved to the processing list.

        Nothing pending: nothing moved. Once answered, the move is no longer
        pending.
        """
        if self._move is None:
            return []
        name, count = self._move
        keys = [self.key, self.processing_key, self.takes_key]
        raws: list[Raw] = self._take_script(keys=keys, args=[count, name])
        self._move = None  # answered: what it moved is in raws
        return raws

    def wait(self, timeout: float) -> None:
        """Block until the list has items, or ``timeout`` seconds passed."""
        # redis-py annotates the timeout as int; Redis >= 6 takes fractions.
        wait = cast("int", timeout)
        # A rotation of the list onto itself at the same end changes nothing, so
        # its reply may be lost; the next move takes what came.
        self._redis.blmove(self.key, self.key, wait, "RIGHT", "RIGHT")

    def items(self) -> list[Raw]:
        """Everything the processing list holds, oldest first."""
        raws: list[Raw] = self._redis.lrange(self.processing_key, 0, -1)
        return raws

    def items_if_any(self) -> list[Raw]:
        """As :meth:`items`, reading the list only when its length is not 0."""
        return self.items() if self._redis.llen(self.processing_key) else []

    def settle(self, raws: list[Raw], *, dead: bool) -> None:
        """Remove items from the processing list; to the dead letters if ``dead``."""
        dead_letters = self.dead_letter_key if dead else None
        keys = [
            self.processing_key,
            dead_letters or self.processing_key,
            self.takes_key,
        ]
        flag = "0" if dead_letters is None else "1"
        for start in range(0, len(raws), MOST_PER_CALL):
            chunk = raws[start : start + MOST_PER_CALL]
            self._settle_script(keys=keys, args=[flag, uuid.uuid4().hex, *chunk])
