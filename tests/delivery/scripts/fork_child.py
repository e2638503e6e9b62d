"""Queue events, fork, queue more in the child: each process sends its own.

Usage: fork_child.py URL. Prints the child's exit code and both processes' stats.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import uuid

from snowplow_logging import Emitter


def payload(tag: str, n: int) -> dict[str, str]:
    return {
        "e": "se",
        "eid": str(uuid.uuid4()),
        "tv": "py-test",
        "p": "srv",
        "dtm": "1795420800000",
        "se_ca": tag,
        "se_ac": f"{tag}-{n}",
    }


url = sys.argv[1]
Emitter(url)  # collected before the fork: its at-fork hook must do nothing
gc.collect()
emitter = Emitter(url, flush_interval=60.0)
for n in range(5):
    emitter.input(payload("parent", n))  # pending: neither full nor timed

pid = os.fork()
if pid == 0:
    for n in range(3):
        emitter.input(payload("child", n))
    delivered = emitter.flush(timeout=10)
    stats = emitter.stats
    os._exit(0 if delivered and stats["sent"] == 3 and stats["inputs"] == 3 else 1)

_, status = os.waitpid(pid, 0)
delivered = emitter.flush(timeout=10)
result = {
    "child_exit": os.waitstatus_to_exitcode(status),
    "parent_delivered": delivered,
    "parent_stats": emitter.stats,
}
print(json.dumps(result))
