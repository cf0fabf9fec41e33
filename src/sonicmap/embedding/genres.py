"""Genre tags → shares of the parent genres of the embedding's genre block.

The taxonomy lives in ``genres.yaml`` beside this module (package data). Matching ignores case,
spaces, hyphens and punctuation; an unlisted tag is tried by its trailing words, then its leading
words; tags that match nothing are ignored (no fake genre). Several known tags share the weight
equally, and a tag with several parents splits its share among them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from sonicmap.embedding.layout import GENRE_PARENTS
from sonicmap.errors import SonicmapError

log = logging.getLogger(__name__)

_SPLIT = re.compile(r"\s*[;,/|]\s*|\s+\u2022\s+")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_PARENT_INDEX = {p: i for i, p in enumerate(GENRE_PARENTS)}


def genre_key(tag: str) -> str:
    """Matching key of one tag: casefolded, ``&`` → ``and``, non-alphanumerics removed.

    >>> genre_key("Hip-Hop") == genre_key("hip hop") == "hiphop"
    True
    """
    return _NON_ALNUM.sub("", tag.casefold().replace("&", "and").replace("'n'", "and"))


def parse_taxonomy(data: Any) -> dict[str, tuple[int, ...]]:
    """Validate a parsed taxonomy document; return matching key → parent indices."""
    if not isinstance(data, Mapping) or not isinstance(data.get("parents"), Mapping):
        raise SonicmapError("genre taxonomy must be a mapping with a 'parents' mapping")
    table: dict[str, tuple[int, ...]] = {}
    for parent, tags in data["parents"].items():
        if parent not in _PARENT_INDEX:
            raise SonicmapError(
                f"genre taxonomy: unknown parent {parent!r}; expected one of {', '.join(GENRE_PARENTS)}"
            )
        if not isinstance(tags, list):
            raise SonicmapError(
                f"genre taxonomy: parent {parent!r} must list its tags, got {tags!r}"
            )
        for tag in [parent.replace("_", " "), *tags]:
            key = genre_key(str(tag))
            prev = table.get(key)
            if prev is not None and prev != (_PARENT_INDEX[parent],):
                raise SonicmapError(
                    f"genre taxonomy: tag {tag!r} is listed under two parents; list it under 'multi'"
                )
            table[key] = (_PARENT_INDEX[parent],)
    for tag, parents in (data.get("multi") or {}).items():
        if (
            not isinstance(parents, list)
            or not parents
            or any(p not in _PARENT_INDEX for p in parents)
        ):
            raise SonicmapError(
                f"genre taxonomy: multi tag {tag!r} must list parents from {', '.join(GENRE_PARENTS)}, "
                f"got {parents!r}"
            )
        table[genre_key(str(tag))] = tuple(sorted({_PARENT_INDEX[p] for p in parents}))
    return table


@cache
def taxonomy() -> dict[str, tuple[int, ...]]:
    """The shipped taxonomy (``genres.yaml``), parsed once."""
    text = resources.files("sonicmap.embedding").joinpath("genres.yaml").read_text(encoding="utf-8")
    return parse_taxonomy(yaml.safe_load(text))


def split_tags(genres: Iterable[str] | str | None) -> list[str]:
    """Split multi-valued tags (``"Rock; Pop"``, ``"rock/pop"``) into single tags."""
    if genres is None:
        return []
    if isinstance(genres, str):
        genres = [genres]
    out: list[str] = []
    for g in genres:
        if not isinstance(g, str):
            continue
        out.extend(p for p in _SPLIT.split(g.strip()) if p)
    return out


@cache
def parents_of(tag: str) -> tuple[int, ...]:
    """Parent indices (into :data:`GENRE_PARENTS`) of one tag; ``()`` if unknown."""
    table = taxonomy()
    key = genre_key(tag)
    if key in table:
        return table[key]
    words = [w for w in _NON_ALNUM.split(tag.casefold().replace("&", "and")) if w]
    for start in range(1, len(words)):  # trailing words: "melodic death metal" → "death metal"
        k = "".join(words[start:])
        if k in table:
            return table[k]
    for stop in range(len(words) - 1, 0, -1):  # leading words
        k = "".join(words[:stop])
        if k in table:
            return table[k]
    return ()


@cache
def _shares(tags: tuple[str, ...]) -> tuple[float, ...] | None:
    acc = [0.0] * len(GENRE_PARENTS)
    known = [parents_of(t) for t in tags]
    known = [p for p in known if p]
    if not known:
        return None
    for parents in known:
        for i in parents:
            acc[i] += 1.0 / (len(known) * len(parents))
    return tuple(acc)


@lru_cache(maxsize=1 << 16)
def _combo_shares(key: tuple[str, ...]) -> tuple[float, ...] | None:
    """:func:`_shares` of one track's tag combination (split first); cached, since a library
    repeats few combinations and a batch is encoded block by block."""
    return _shares(tuple(split_tags(key)))


def genre_shares(genres: Sequence[str] | str | None) -> np.ndarray | None:
    """Shares of the parent genres for one track's genre tags.

    Parameters
    ----------
    genres : list of str, or a single (possibly multi-valued) str, or None

    Returns
    -------
    np.ndarray [shape=(12,), float64] summing to 1, or None when no tag is known.
    """
    s = _shares(tuple(split_tags(genres)))
    return None if s is None else np.asarray(s, dtype=np.float64)


def _combo_key(g: Any) -> tuple[str, ...]:
    if isinstance(g, str):
        return (g,)
    if isinstance(g, Iterable):
        return tuple(x for x in g if isinstance(x, str))
    return ()


def genre_matrix(genres: Sequence[Sequence[str] | str | None]) -> np.ndarray:
    """Encoded genre block for many tracks: shares − 1/12, or 0 for tracks with no known genre.

    Returns
    -------
    np.ndarray [shape=(n, 12), float64]
    """
    n_par = len(GENRE_PARENTS)
    uniform = 1.0 / n_par
    keys: list[Any]
    try:  # fast path: every entry a list/tuple of strings; one row per distinct combination
        if str in set(map(type, genres)):
            raise TypeError("plain string")
        keys = [tuple(g) for g in genres]  # type: ignore[arg-type]  # None raises TypeError
        combos = dict.fromkeys(keys)
    except TypeError:  # None, a plain string, or something odd somewhere
        keys = [_combo_key(g) for g in genres]
        combos = dict.fromkeys(keys)
    rows: list[tuple[float, ...]] = [(uniform,) * n_par]
    for key in combos:
        s = _combo_shares(key)
        if s is None:
            combos[key] = 0
        else:
            combos[key] = len(rows)
            rows.append(s)
    idx = np.fromiter(map(combos.__getitem__, keys), dtype=np.intp, count=len(keys))
    table = np.asarray(rows, dtype=np.float64) - uniform
    return table[idx]
