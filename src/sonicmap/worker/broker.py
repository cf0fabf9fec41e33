"""What the broker still holds: does a task's message exist in it?

Used by the training single-flight (:mod:`sonicmap.pipeline.singleflight`) to release a queued
training whose message the broker lost (Redis flushed, or restarted without its data), so that a
new request queues a new task instead of coalescing into one that will never run.

Redis only: a message is known while it waits in one of the queue's priority lists, or sits in
the ``unacked`` hash (delivered to a worker — reserved, waiting for its countdown, or running
with late acknowledgement). Other brokers cannot be asked: the answer is ``None`` (unknown), and
the queued row then lives until ``SONICMAP_WORKER_QUEUED_TTL_S``.
"""

from __future__ import annotations

import logging
from typing import Any

from sonicmap.worker.priorities import is_redis_url

log = logging.getLogger(__name__)


def redis_holds(client: Any, queue: str, task_id: str, *, sep: str, steps: list[int]) -> bool:
    """Whether ``task_id``'s message is in ``queue``'s priority lists or the unacked hash of the
    kombu Redis transport behind ``client``."""
    needle = task_id.encode()
    keys = [queue] + [f"{queue}{sep}{p}" for p in steps if p]
    for key in keys:
        if any(needle in raw for raw in client.lrange(key, 0, -1)):
            return True
    return any(needle in raw for raw in client.hvals("unacked"))


def broker_knows(app: Any, queue: str, task_id: str) -> bool | None:
    """True/False when the (Redis) broker does/does not hold ``task_id``'s message; None when it
    cannot tell (another broker, or the broker is unreachable)."""
    if not is_redis_url(str(app.conf.broker_url)):
        return None
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.default_channel
            return redis_holds(
                channel.client,
                queue,
                task_id,
                sep=channel.sep,
                steps=list(channel.priority_steps),
            )
    except Exception as exc:  # broker down: no verdict, the row keeps its TTL
        log.info("cannot ask the broker about task_id=%s: %s", task_id, exc)
        return None
