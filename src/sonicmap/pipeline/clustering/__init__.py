"""GMM model lifecycle on the store: train, activate, assign, drift checks, cleanup, listings.

One module per part: :mod:`.models` (loading, stale trainings, the switch, activation and
deletion), :mod:`.fit` (training), :mod:`.checks` (new-artist assignment, drift checks,
cleanup), :mod:`.queries` (listings).

Training (:func:`train`)::

    1. mark dead trainings failed (see :func:`mark_stale_trainings`)
    2. read artist vectors (current embedding layout), refuse below ``auto_queue.min_artists``
    3. insert a ``gmm_models`` row with status ``training`` (committed: visible, never active)
    4. fit (``sonicmap.clustering.ArtistGmm``, warm start from the active model), predict all
    5. ONE transaction: parameter arrays, clusters (stable ids, profiles), assignments of every
       artist, then the switch — the active model becomes ``archived``, this one ``active``
    6. on an exception: the row becomes ``failed`` with the error; nothing else changed

A crash or ``kill -9`` anywhere before the commit of step 5 leaves the previous active model
and all its assignments in force (step 5 is rolled back by the database); the orphan
``training`` row is marked ``failed`` by the next training or cleanup.

Concurrency: the switch in step 5 is serialised (``pg_advisory_xact_lock`` on PostgreSQL, the
single writer lock on SQLite) and archives *whatever* model is active at that moment, so when
two trainings race, the one that commits last is active and the other is archived; the unique
``active_flag`` column makes two active models impossible even for buggy callers.
"""

from sonicmap.pipeline.clustering.checks import (
    assign_new_artists,
    check_stability,
    cleanup_models,
    record_decision,
)
from sonicmap.pipeline.clustering.fit import _write_assignments, artist_descriptors, train
from sonicmap.pipeline.clustering.models import (
    BATCH,
    STALE_TRAINING_AFTER,
    TRIGGERS,
    Progress,
    _layout_version,
    activate_model,
    delete_model,
    load_model,
    load_vectors,
    mark_stale_trainings,
)
from sonicmap.pipeline.clustering.queries import (
    artist_cluster,
    cluster_detail,
    list_clusters,
    list_models,
)

__all__ = [
    "BATCH",
    "STALE_TRAINING_AFTER",
    "TRIGGERS",
    "Progress",
    "_layout_version",
    "_write_assignments",
    "activate_model",
    "artist_cluster",
    "artist_descriptors",
    "assign_new_artists",
    "check_stability",
    "cleanup_models",
    "cluster_detail",
    "delete_model",
    "list_clusters",
    "list_models",
    "load_model",
    "load_vectors",
    "mark_stale_trainings",
    "record_decision",
    "train",
]
