"""``sonicmap demo``: a synthetic library, scanned, clustered and explored, with no setup.

1. Generate ``n_artists × tracks_per_artist`` tracks of distinct synthetic styles
   (:func:`sonicmap.synth.generate_library`: tempo, key/mode, timbre, drums, density, loudness,
   brightness; several formats; full tags) into ``<data_dir>/demo-library``. An existing demo
   library generated with the same parameters is reused (a ``.sonicmap-demo.json`` marker
   records them); different parameters regenerate it.
2. Scan it with :func:`sonicmap.pipeline.scan.scan_library`, with the library roots set to that
   folder for this scan only (so nothing of a configured library is touched or removed).
3. Train a GMM in-process (``clustering.train(..., reason="manual", force=True)``) with a copy
   of the configuration whose ``auto_queue.min_artists`` / ``min_tracks`` are lowered to fit the
   demo (the shipped minimums, 50 artists / 500 tracks, are for real libraries) and
   ``max_components`` capped at half the artists.
4. Report the clusters and, for a few artists, their most similar artists.

Everything goes to the configured database (default: the embedded SQLite file in the data
dir), so ``sonicmap similar`` / ``sonicmap clusters`` work on the demo afterwards.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sonicmap.config import AppConfig, GmmConfig
from sonicmap.pipeline import clustering, embeddings
from sonicmap.pipeline.scan import ProgressFn, jsonable, scan_library

if TYPE_CHECKING:
    from sonicmap.store.db import Store

log = logging.getLogger(__name__)

DEMO_FOLDER = "demo-library"
MARKER = ".sonicmap-demo.json"
DEMO_FORMATS = ("flac", "mp3", "ogg", "m4a", "opus", "wav")
DEMO_SEED = 20240611
#: Artists whose similar artists the report shows.
SHOW_SIMILAR = 4


def demo_config(cfg: AppConfig, library: Path, *, n_artists: int, n_tracks: int) -> AppConfig:
    """``cfg`` with the demo library as the only root and GMM minimums lowered to fit it."""
    settings = cfg.settings.model_copy(update={"library_roots": [library]})
    data = cfg.gmm.model_dump()
    aq = data["gmm_clustering"]["auto_queue"]
    aq["min_artists"] = max(2, min(aq["min_artists"], n_artists))
    aq["min_tracks"] = min(aq["min_tracks"], n_tracks)
    aq["max_components"] = max(2, min(aq["max_components"], n_artists // 2))
    return AppConfig(settings=settings, gmm=GmmConfig.model_validate(data))


def ensure_library(
    folder: Path,
    *,
    n_artists: int,
    tracks_per_artist: int,
    duration_s: float,
    seed: int = DEMO_SEED,
) -> tuple[list[dict[str, Any]], bool]:
    """Generate the demo library into ``folder`` unless an identical one is there.

    Returns ``(artists, generated)``: ``artists`` lists ``{name, style}`` (the generating style's
    genre and tempo, for the report); ``generated`` is False when the library was reused.
    """
    params = {
        "n_artists": n_artists,
        "tracks_per_artist": tracks_per_artist,
        "duration_s": duration_s,
        "seed": seed,
        "formats": list(DEMO_FORMATS),
    }
    marker = folder / MARKER
    if marker.is_file():
        try:
            saved = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        if saved.get("params") == params:
            log.info("reusing demo library path=%s", folder)
            return saved.get("artists", []), False
        log.info("demo parameters changed; regenerating path=%s", folder)
        shutil.rmtree(folder)
    elif folder.exists() and any(folder.iterdir()):
        shutil.rmtree(folder)  # a half-written library from an interrupted demo
    from sonicmap.synth import available_formats, generate_library

    formats = [f for f in DEMO_FORMATS if f in set(available_formats())] or ["wav"]
    log.info(
        "generating demo library artists=%d tracks_per_artist=%d duration_s=%.0f path=%s",
        n_artists,
        tracks_per_artist,
        duration_s,
        folder,
    )
    generated = generate_library(
        folder,
        n_artists=n_artists,
        tracks_per_artist=tracks_per_artist,
        formats=formats,
        seed=seed,
        duration_s=duration_s,
    )
    artists: dict[str, dict[str, Any]] = {}
    for g in generated:
        style = getattr(g, "style", None)
        artists.setdefault(
            str(g.artist),
            {
                "name": str(g.artist),
                "genre": getattr(style, "genre", None),
                "bpm": getattr(style, "bpm", None),
            },
        )
    out = list(artists.values())
    marker.write_text(json.dumps({"params": params, "artists": out}), encoding="utf-8")
    return out, True


def run_demo(
    store: Store,
    cfg: AppConfig,
    *,
    n_artists: int = 12,
    tracks_per_artist: int = 4,
    duration_s: float = 15.0,
    jobs: int | None = None,
    progress: ProgressFn | None = None,
    similar_k: int = 3,
) -> dict[str, Any]:
    """Generate, scan, cluster and explore the demo library; return a JSON-able report.

    Report keys: ``library`` (folder), ``generated`` (bool), ``scan`` (the scan summary),
    ``training`` (the training result, or ``{"status": "skipped"|"failed", ...}``),
    ``settings_used`` (the lowered GMM minimums), ``clusters`` (list), ``similar``
    (``{artist name: [{name, score}]}``) and ``artists`` (name + generating genre/tempo).
    """
    folder = Path(cfg.settings.data_dir) / DEMO_FOLDER
    artists, generated = ensure_library(
        folder, n_artists=n_artists, tracks_per_artist=tracks_per_artist, duration_s=duration_s
    )
    dcfg = demo_config(cfg, folder, n_artists=n_artists, n_tracks=n_artists * tracks_per_artist)
    result = scan_library(store, dcfg, jobs=jobs, progress=progress)
    aq = dcfg.gmm.gmm_clustering.auto_queue
    report: dict[str, Any] = {
        "library": str(folder),
        "generated": generated,
        "artists": artists,
        "scan": result.to_dict(),
        "settings_used": {
            "min_artists": aq.min_artists,
            "min_tracks": aq.min_tracks,
            "max_components": aq.max_components,
            "note": "GMM minimums lowered for the demo; real libraries use gmm_config.yaml",
        },
    }
    report["training"] = _call(clustering.train, store, dcfg, reason="manual", force=True)
    report["clusters"] = _list_clusters(store)
    report["similar"] = _similar(store, [a["name"] for a in artists][:SHOW_SIMILAR], similar_k)
    return report


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a pipeline function; a failure → ``failed`` with its error (logged)."""
    try:
        out = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the demo reports and goes on
        log.exception("%s failed", fn.__name__)
        return {"status": "failed", "error": " ".join(str(exc).split()) or type(exc).__name__}
    if hasattr(out, "to_dict"):
        out = out.to_dict()
    return jsonable(out if not hasattr(out, "__dict__") or isinstance(out, dict) else vars(out))


def _list_clusters(store: Store) -> Any:
    out = _call(clustering.list_clusters, store)
    return out


def _similar(store: Store, names: list[str], k: int) -> dict[str, Any]:
    from sqlalchemy import select

    from sonicmap.library.identity import normalise_name
    from sonicmap.store.schema import Artist

    out: dict[str, Any] = {}
    with store.read_session() as ses:
        ids = {
            name: ses.scalar(select(Artist.id).where(Artist.key == f"name:{normalise_name(name)}"))
            for name in names
        }
    for name, aid in ids.items():
        if aid is None:
            continue
        res = _call(embeddings.similar_artists, store, aid, k)
        if isinstance(res, list):
            res = [
                {"name": r.get("name"), "score": round(float(r.get("score", 0.0)), 3)} for r in res
            ]
        out[name] = res
    return out


def format_demo(report: dict[str, Any]) -> str:
    """The human-readable demo report."""
    s = report["scan"]
    lines = [
        f"demo library: {report['library']} ({'generated' if report['generated'] else 'reused'})",
        f"scan: {s['added']} added, {s['changed']} changed, {s['unchanged']} unchanged, "
        f"{s['failed']} failed in {s['duration_s']:.1f}s",
    ]
    su = report["settings_used"]
    lines.append(
        f"clustering: min_artists lowered to {su['min_artists']}, min_tracks to {su['min_tracks']}, "
        f"max_components {su['max_components']} (demo only)"
    )
    tr = report.get("training")
    if isinstance(tr, dict) and tr.get("status") in ("skipped", "failed"):
        lines.append(f"training {tr['status']}: {tr.get('reason') or tr.get('error')}")
    elif isinstance(tr, dict):
        keys = ("model_id", "id", "k", "n_artists", "bic")
        lines.append("trained model: " + ", ".join(f"{k}={tr[k]}" for k in keys if k in tr))
    clusters = report.get("clusters")
    if isinstance(clusters, list):
        lines.append(f"clusters ({len(clusters)}):")
        for c in clusters:
            if isinstance(c, dict):
                label = c.get("label") or ""
                members = c.get("artists") or c.get("top_artists") or []
                names = ", ".join(
                    (m.get("name") if isinstance(m, dict) else str(m)) or "?" for m in members[:8]
                )
                lines.append(
                    f"  cluster {c.get('cluster_id', c.get('id'))}: {c.get('size', '?')} artists "
                    f"{label} {names}".rstrip()
                )
    elif isinstance(clusters, dict):
        lines.append(
            f"clusters {clusters.get('status')}: {clusters.get('reason') or clusters.get('error')}"
        )
    genre = {a["name"]: a.get("genre") for a in report.get("artists", [])}
    lines.append("similar artists:")
    for name, sims in report.get("similar", {}).items():
        if isinstance(sims, list):
            txt = ", ".join(f"{x['name']} ({x['score']:.2f})" for x in sims)
            lines.append(f"  {name} [{genre.get(name) or '?'}] → {txt}")
        else:
            lines.append(f"  {name}: {sims}")
    return "\n".join(lines)
