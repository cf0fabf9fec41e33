"""Confinement of client-supplied scan paths to the configured library roots.

Rules (``POST /scans``):

* a path containing a ``..`` component is refused outright, even if it would normalise back
  inside a root;
* a relative path is resolved against each library root in turn (the first root where it exists
  wins); an absolute path must lie inside one of the roots;
* containment is :func:`sonicmap.library.walk.confined_path`, the rule the worker applies again
  to what the API queues: the real location (symlinks followed) must lie inside a root's real
  location — a symlink inside the library that points elsewhere cannot be used to scan another
  folder — and the path queued is named below the root as configured (a symlinked root such as
  ``/music`` → ``/srv/music`` stays ``/music/...``, as the scan names its tracks);
* refusals are :class:`~sonicmap.errors.PathNotAllowedError` (HTTP 403, code
  ``path_not_allowed``); a path inside a root that does not exist is a ``ValueError``
  (HTTP 422, ``invalid_parameter``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from sonicmap.errors import PathNotAllowedError
from sonicmap.library.walk import confined_path

MAX_PATH_LEN = 4096


def confine_scan_path(path: str, roots: Sequence[Path]) -> Path:
    """Return ``path`` as the scan will name it (absolute, below a root as configured) if it lies
    inside one of ``roots``.

    Parameters
    ----------
    path : str
        What the client sent: absolute, or relative to a library root.
    roots : sequence of Path
        ``Settings.library_roots``.

    Raises
    ------
    PathNotAllowedError
        No roots configured, a ``..`` component, a NUL byte, or a real location outside every root.
    ValueError
        The path is inside a root but does not exist.
    """
    if not roots:
        raise PathNotAllowedError(
            "no library roots are configured, so no path can be scanned; "
            "set SONICMAP_LIBRARY_ROOTS (':'-separated folders)"
        )
    if "\x00" in path or not path.strip():
        raise PathNotAllowedError(f"path {path!r} is not a valid path inside a library root")
    if len(path) > MAX_PATH_LEN:
        raise ValueError(f"path is longer than {MAX_PATH_LEN} characters")
    if ".." in PurePosixPath(path.replace("\\", "/")).parts:
        raise PathNotAllowedError(
            f"path {path!r} contains '..'; give a path inside a library root without '..'"
        )
    p = Path(path)
    candidates = [p] if p.is_absolute() else [Path(r).expanduser() / p for r in roots]
    outside: list[Path] = []
    for cand in candidates:
        inside = confined_path(cand, roots)
        if inside is None:
            outside.append(cand)
            continue
        if not os.path.exists(inside):
            continue
        return Path(inside)
    if outside:
        names = ", ".join(str(r) for r in roots)
        raise PathNotAllowedError(
            f"path {path!r} lies outside the library roots ({names}) or links out of them; "
            "only folders inside SONICMAP_LIBRARY_ROOTS can be scanned"
        )
    raise ValueError(f"path {path!r} does not exist inside any library root")
