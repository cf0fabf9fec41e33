"""Priorities and queues: the one place where plan priorities become broker priorities.

The plan (and ``gmm_config.yaml``) speaks of 0..9 where **higher is more important** (training 9,
drift retrain 7, refresh 5, stability 3, cleanup 1, scan 0), as RabbitMQ does. kombu's Redis
transport does the opposite: a message of priority ``n`` goes to the list ``<queue>:<n>`` and
the worker's BRPOP polls ``priority_steps`` in ascending order, so **0 is served first**
(Celery's docs: "with Redis, priority 0 is the highest"). :func:`broker_priority` maps.
"""

from __future__ import annotations

#: Plan priorities (0..9, higher = more important).
PRIORITY_TRAINING = 9
PRIORITY_DRIFT = 7
PRIORITY_REFRESH = 5
PRIORITY_STABILITY = 3
PRIORITY_CLEANUP = 1
#: Scans (and their analysis chunks) come last: long background work never starves the short
#: maintenance jobs, which take the next free worker process between two chunks.
PRIORITY_SCAN = 0
PRIORITY_DEFAULT = 5

#: Queues. Short maintenance jobs never wait behind the analysis of a whole library: the scan's
#: analysis is cut into short chunks (``scan`` queue) and maintenance messages outrank them.
QUEUE_MAINTENANCE = "maintenance"
QUEUE_SCAN = "scan"
ALL_QUEUES = (QUEUE_MAINTENANCE, QUEUE_SCAN)

TASK_QUEUES = {
    "scan_library": QUEUE_SCAN,
    "scan_analyse_chunk": QUEUE_SCAN,
    "scan_finish": QUEUE_SCAN,
    "train_gmm": QUEUE_MAINTENANCE,
    "periodic_gmm_refresh": QUEUE_MAINTENANCE,
    "check_cluster_stability": QUEUE_MAINTENANCE,
    "cleanup_old_models": QUEUE_MAINTENANCE,
    "sync_servers": QUEUE_MAINTENANCE,
    "push_playlists": QUEUE_MAINTENANCE,
}


def is_redis_url(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "redis+socket://", "sentinel://"))


def broker_priority(plan_priority: int, broker_url: str) -> int:
    """Map a plan priority (0..9, higher = more important) to the broker's number.

    RabbitMQ (and every broker with real priority queues): unchanged. Redis: ``9 - p``, since
    kombu's Redis transport serves the lowest number first.
    """
    p = max(0, min(9, int(plan_priority)))
    return 9 - p if is_redis_url(broker_url) else p
