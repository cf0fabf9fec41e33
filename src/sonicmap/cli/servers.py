"""``sonicmap servers ...`` and ``sonicmap playlists ...``: music servers, sync, playlist pushes.

The secret of a server is given by reference (``--password-env VAR``, ``--password-file PATH``,
``--api-key-env VAR``, ``--api-key-file PATH``) and stored as that reference; ``--store-secret``
stores the value itself (read from the reference now). It is never printed or logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sonicmap.cli._common import emit_json, fail, get_config, get_store, handle_errors
from sonicmap.errors import ServerError

servers_app = typer.Typer(
    help="Music servers (Subsonic/OpenSubsonic, Jellyfin): add, test, sync their song ids.",
    no_args_is_help=True,
)
playlists_app = typer.Typer(
    help="Playlists pushed to music servers (updated in place on later pushes).",
    no_args_is_help=True,
)

TIMEOUT_OPT = typer.Option(30.0, "--timeout", min=0.1, help="Seconds to wait for the server.")


def _secret(
    password_env: str | None,
    password_file: Path | None,
    api_key_env: str | None,
    api_key_file: Path | None,
    store_secret: bool,
    *,
    optional: bool = False,
) -> dict[str, Any]:
    """The secret reference the options give; with ``optional`` (a Lyrion server without
    password protection and no ``--user``), none at all is ``{"source": "none"}``."""
    given = [
        ("password", "env", password_env),
        ("password", "file", str(password_file) if password_file else None),
        ("api_key", "env", api_key_env),
        ("api_key", "file", str(api_key_file) if api_key_file else None),
    ]
    chosen = [(typ, src, ref) for typ, src, ref in given if ref]
    if optional and not chosen:
        return {"type": "password", "source": "none"}
    if len(chosen) != 1:
        raise fail(
            "give exactly one of --password-env VAR, --password-file PATH, --api-key-env VAR "
            "or --api-key-file PATH"
        )
    typ, src, ref = chosen[0]
    if src == "file":
        ref = str(Path(ref).expanduser().absolute())
    secret = {"type": typ, "source": src, "ref": ref}
    if store_secret:
        from sonicmap.remote import resolve_secret

        secret = {"type": typ, "source": "stored", "value": resolve_secret("(new)", secret)}
    return secret


def _client(info: Any, timeout: float) -> Any:
    from sonicmap.remote import make_client

    return make_client(info, timeout=timeout)


def _print_sync(d: dict[str, Any]) -> None:
    m = d["matched"]
    by = ", ".join(f"{k} {v}" for k, v in m.items() if v)
    typer.echo(
        f"{d['server']}: {d['matched_total']} of {d['server_songs']} songs matched"
        f"{f' ({by})' if by else ''}; {d['unmatched_server']} unmatched on the server, "
        f"{d['unmatched_local']} local tracks not on it; {d['changed_ids']} changed ids, "
        f"{d['dropped']} dropped; {d['seconds']:.1f}s (server {d['server_seconds']:.1f}s)"
        + (" (resumed)" if d.get("resumed") else "")
    )
    pl = d.get("playlists") or {}
    if pl.get("playlists"):
        typer.echo(
            f"  playlists: {pl.get('refreshed', 0)} refreshed, {pl.get('unchanged', 0)} unchanged, "
            f"{pl.get('recreated', 0)} re-created"
        )
        for p in pl["playlists"]:
            if p["action"] == "recreated":
                typer.echo(
                    f"  re-created {p['name']!r} (the server had lost it): id {p['playlist_id']}"
                )


def register(app: typer.Typer) -> None:
    """Add ``servers`` and ``playlists`` to ``app``."""
    app.add_typer(servers_app, name="servers")
    app.add_typer(playlists_app, name="playlists")


@servers_app.command("add")
@handle_errors
def add_cmd(
    name: str = typer.Argument(..., help="A short name for the server (letters, digits, _-.)."),
    kind: str = typer.Option(
        ..., "--kind", help="subsonic (also OpenSubsonic), jellyfin or lyrion."
    ),
    url: str = typer.Option(..., "--url", help="Base URL, e.g. http://navidrome:4533"),
    user: str | None = typer.Option(None, "--user", help="User name on the server."),
    password_env: str | None = typer.Option(
        None, "--password-env", help="Variable holding the password."
    ),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="File holding the password."
    ),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Variable holding an API key."
    ),
    api_key_file: Path | None = typer.Option(
        None, "--api-key-file", help="File holding an API key."
    ),
    store_secret: bool = typer.Option(
        False,
        "--store-secret",
        help="Store the secret itself in the database (default: only where it comes from).",
    ),
    sync_after_scan: bool = typer.Option(
        True, "--sync-after-scan/--no-sync-after-scan", help="Sync this server after each scan."
    ),
    refresh_on_activate: bool = typer.Option(
        False,
        "--refresh-playlists-on-activate/--no-refresh-playlists-on-activate",
        help="Re-push the cluster playlists after a new model is activated.",
    ),
    use_paths: bool = typer.Option(
        True, "--paths/--no-paths", help="Match songs by the file paths the server reports."
    ),
    path_prefix: str | None = typer.Option(
        None, "--path-prefix", help="The server's folder for the library root, if it differs."
    ),
    test: bool = typer.Option(
        True, "--test/--no-test", help="Check the connection before storing."
    ),
    timeout: float = TIMEOUT_OPT,
    json_out: bool = typer.Option(False, "--json", help="Print the stored server as JSON."),
) -> None:
    """Add a server. Nothing is stored when the connection test fails (use --no-test)."""
    from sonicmap.pipeline import servers as srv

    secret = _secret(
        password_env,
        password_file,
        api_key_env,
        api_key_file,
        store_secret,
        optional=kind == "lyrion" and not user,
    )
    options = {
        "sync_after_scan": sync_after_scan,
        "refresh_playlists_on_activate": refresh_on_activate,
        "use_paths": use_paths,
        "path_prefix": path_prefix,
    }
    if kind not in srv.KINDS:
        raise fail(f"server kind {kind!r} is not one of {', '.join(srv.KINDS)}")
    store = get_store()
    ping = None
    if test:
        probe = srv.ServerInfo(
            id=0,
            name=name,
            kind=kind,
            url=srv.validate_url(url),
            username=user,
            secret=srv.validate_secret(secret),
            options=options,
        )
        ping = _client(probe, timeout).ping()
    info = srv.add_server(
        store, name=name, kind=kind, url=url, username=user, secret=secret, options=options
    )
    if json_out:
        emit_json({**info.to_dict(), "test": ping})
    else:
        typer.echo(
            f"added {info.kind} server {info.name!r} at {info.url} (secret: {info.secret_description()})"
        )


@servers_app.command("list")
@handle_errors
def list_cmd(json_out: bool = typer.Option(False, "--json", help="Print one JSON list.")) -> None:
    """The configured servers (never their secrets)."""
    from sonicmap.pipeline import servers as srv

    items = [s.to_dict() for s in srv.list_servers(get_store())]
    if json_out:
        emit_json(items)
        return
    if not items:
        typer.echo("no servers; add one with `sonicmap servers add`")
    for s in items:
        last = s["last_sync"] or {}
        synced = (
            f"last sync {s['last_sync_at']}: {last.get('matched_total', 0)}/{last.get('server_songs', 0)} matched"
            if s["last_sync_at"]
            else "never synced"
        )
        typer.echo(f"{s['name']}  {s['kind']}  {s['url']}  user={s['user'] or '-'}  {synced}")


@servers_app.command("test")
@handle_errors
def test_cmd(
    name: str | None = typer.Argument(None, help="Server name (default: every server)."),
    timeout: float = TIMEOUT_OPT,
    json_out: bool = typer.Option(False, "--json", help="Print one JSON list."),
) -> None:
    """Check each server answers and accepts the credentials. Exit 1 if any fails."""
    from sonicmap.pipeline import servers as srv

    store = get_store()
    infos = [srv.get_server(store, name)] if name else srv.list_servers(store)
    out, failed = [], []
    for info in infos:
        try:
            out.append({"name": info.name, "ok": True, **_client(info, timeout).ping()})
        except ServerError as exc:
            out.append({"name": info.name, "ok": False, "error": str(exc)})
            failed.append(str(exc))
    if json_out:
        emit_json(out)
    else:
        for r in out:
            if r["ok"]:
                typer.echo(
                    f"{r['name']}: ok ({r.get('type') or 'server'} {r.get('server_version') or r.get('api_version') or ''}, auth {r.get('auth')})"
                )
    if failed:
        raise fail("; ".join(failed))


@servers_app.command("remove")
@handle_errors
def remove_cmd(
    name: str = typer.Argument(..., help="Server name."),
    json_out: bool = typer.Option(False, "--json", help="Print the removed server as JSON."),
) -> None:
    """Forget a server and its id mappings (its playlists on the server are left as they are)."""
    from sonicmap.pipeline import servers as srv

    info = srv.remove_server(get_store(), name)
    if json_out:
        emit_json(info.to_dict())
    else:
        typer.echo(f"removed server {info.name!r}")


@servers_app.command("set")
@handle_errors
def set_cmd(
    name: str = typer.Argument(..., help="Server name."),
    url: str | None = typer.Option(None, "--url", help="A new base URL."),
    sync_after_scan: bool | None = typer.Option(None, "--sync-after-scan/--no-sync-after-scan"),
    refresh_on_activate: bool | None = typer.Option(
        None, "--refresh-playlists-on-activate/--no-refresh-playlists-on-activate"
    ),
    use_paths: bool | None = typer.Option(None, "--paths/--no-paths"),
    path_prefix: str | None = typer.Option(None, "--path-prefix", help="'' to clear."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Change a server's URL or options."""
    from sonicmap.pipeline import servers as srv

    opts: dict[str, Any] = {}
    if sync_after_scan is not None:
        opts["sync_after_scan"] = sync_after_scan
    if refresh_on_activate is not None:
        opts["refresh_playlists_on_activate"] = refresh_on_activate
    if use_paths is not None:
        opts["use_paths"] = use_paths
    if path_prefix is not None:
        opts["path_prefix"] = path_prefix or None
    info = srv.set_options(get_store(), name, url=url, **opts)
    if json_out:
        emit_json(info.to_dict())
    else:
        typer.echo(
            f"{info.name}: " + ", ".join(f"{k}={v}" for k, v in info.to_dict()["options"].items())
        )


@servers_app.command("sync")
@handle_errors
def sync_cmd(
    name: str | None = typer.Argument(None, help="Server name (default: every server)."),
    tags_only: bool = typer.Option(False, "--tags-only", help="Ignore paths: match by tags only."),
    timeout: float = TIMEOUT_OPT,
    json_out: bool = typer.Option(
        False, "--json", help="Print one JSON report (a list if several)."
    ),
) -> None:
    """Read each server's catalogue and map its song ids to sonicmap tracks.

    Report: {server, matched: {path, mbid, isrc, tags, title_duration}, matched_total,
    server_songs, unmatched_server, unmatched_local, changed_ids, dropped, playlists, ...}.
    """
    from sonicmap.pipeline import servers as srv
    from sonicmap.pipeline.serversync import sync_servers

    store = get_store()
    if name is None and not srv.list_servers(store):
        raise fail("no servers; add one with `sonicmap servers add`")
    out = sync_servers(
        store,
        get_config(),
        lambda info: _client(info, timeout),
        name=name,
        use_paths=False if tags_only else None,
    )
    reports = out["servers"]
    if json_out:
        emit_json(reports[0] if name else reports)
    else:
        for rep in reports:
            if rep["status"] != "failed":
                _print_sync(rep)
    errors = [r["error"] for r in reports if r["status"] == "failed"]
    if errors:
        raise fail("; ".join(errors))


def _track_id(store: Any, value: str) -> int:
    if value.isdigit():
        return int(value)
    from sonicmap.pipeline.embeddings import find_track

    return find_track(store, value)


def _artist_id(store: Any, value: str) -> int:
    if value.isdigit():
        return int(value)
    from sonicmap.pipeline.embeddings import find_artist

    return find_artist(store, value)


@playlists_app.command("push")
@handle_errors
def push_cmd(
    server: str = typer.Option(..., "--server", help="Server name."),
    cluster: int | None = typer.Option(None, "--cluster", help="One cluster (its id)."),
    all_clusters: bool = typer.Option(False, "--all-clusters", help="One playlist per cluster."),
    radio: str | None = typer.Option(None, "--radio", help="A mix from a track (id or path)."),
    artist: str | None = typer.Option(
        None, "--artist", help="A mix around an artist (id or name)."
    ),
    path: tuple[str, str] | None = typer.Option(
        None, "--path", help="A sonic path between two tracks (ids or paths).", show_default=False
    ),
    count: int | None = typer.Option(None, "--count", min=1, max=500, help="Tracks per playlist."),
    name: str | None = typer.Option(
        None, "--name", help="Playlist name (default from what it holds)."
    ),
    timeout: float = TIMEOUT_OPT,
    json_out: bool = typer.Option(False, "--json", help="Print one JSON report."),
) -> None:
    """Push playlists; a playlist pushed before is updated in place (same id), never duplicated.

    Report: {server, created, updated, recreated, playlists: [{key, kind, name, playlist_id,
    action, songs, missing}]}.
    """
    from sonicmap.pipeline import playlists as pl

    store = get_store()
    report = pl.push_request(
        store,
        server,
        lambda info: _client(info, timeout),
        cluster=cluster,
        all_clusters=all_clusters,
        radio=_track_id(store, radio) if radio is not None else None,
        artist=_artist_id(store, artist) if artist is not None else None,
        path=[_track_id(store, p) for p in path] if path else None,
        count=count,
        name=name,
    )
    if json_out:
        emit_json(report)
        return
    for p in report["playlists"]:
        miss = f", {p['missing']} not on the server" if p["missing"] else ""
        typer.echo(f"{p['action']} {p['name']!r} ({p['songs']} songs{miss}): id {p['playlist_id']}")


@playlists_app.command("list")
@handle_errors
def list_playlists_cmd(
    server: str | None = typer.Option(None, "--server", help="Only this server."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON list."),
) -> None:
    """The playlists sonicmap pushed (and where)."""
    from sonicmap.pipeline.playlists import list_pushed

    items = list_pushed(get_store(), server)
    if json_out:
        emit_json(items)
        return
    if not items:
        typer.echo("no playlists pushed yet; see `sonicmap playlists push`")
    for p in items:
        typer.echo(
            f"{p['server']}  {p['name']}  ({p['tracks']} tracks, {p['key']})  id {p['playlist_id']}"
        )
