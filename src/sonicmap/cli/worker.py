"""``sonicmap worker``, ``sonicmap beat`` and ``sonicmap jobs``.

``worker``/``beat`` are the plain Celery commands with Raspberry-Pi-sane defaults from
``SONICMAP_WORKER_*`` (concurrency 2, a process recycled after 50 tasks or above 600 MB);
``celery -A sonicmap.worker.app worker`` / ``beat`` work the same.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sonicmap.cli._common import emit_json, get_store, handle_errors


def register(app: typer.Typer) -> None:
    """Add ``worker``, ``beat`` and ``jobs``."""
    app.command("worker")(worker)
    app.command("beat")(beat)
    app.command("jobs")(jobs_cmd)


def worker_argv(
    *,
    concurrency: int,
    queues: str,
    hostname: str | None,
    loglevel: str,
    max_tasks_per_child: int,
    max_memory_per_child_mb: int,
    pool: str | None = None,
) -> list[str]:
    """The ``celery worker`` argument list (pure; tested)."""
    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--queues={queues}",
        f"--loglevel={loglevel}",
        f"--max-tasks-per-child={max_tasks_per_child}",
        f"--max-memory-per-child={max_memory_per_child_mb * 1024}",
        "--prefetch-multiplier=1",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    if pool:
        argv.append(f"--pool={pool}")
    return argv


@handle_errors
def worker(
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", help="Worker processes (default 2).")
    ] = None,
    queues: Annotated[
        str | None,
        typer.Option("--queues", "-Q", help="Queues to consume (default maintenance,scan)."),
    ] = None,
    hostname: Annotated[
        str | None,
        typer.Option("--hostname", "-n", help="Node name, e.g. pi1@%h (unique per worker)."),
    ] = None,
    pool: Annotated[str | None, typer.Option(help="Celery pool: prefork (default), solo.")] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run a Celery worker for scans, training and maintenance."""
    from sonicmap.worker.app import app, get_worker_settings

    ws = get_worker_settings()
    app.worker_main(
        worker_argv(
            concurrency=concurrency or ws.concurrency,
            queues=queues or ws.queues,
            hostname=hostname,
            loglevel=loglevel,
            max_tasks_per_child=ws.max_tasks_per_child,
            max_memory_per_child_mb=ws.max_memory_per_child_mb,
            pool=pool,
        )
    )


@handle_errors
def beat(
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run Celery beat: the periodic refresh, stability check and cleanup of gmm_config.yaml."""
    from sonicmap.worker.app import app

    app.start(["beat", f"--loglevel={loglevel}"])


@handle_errors
def jobs_cmd(
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 20,
    task: Annotated[str | None, typer.Option("--task", help="Only runs of this task.")] = None,
) -> None:
    """List recent worker task runs (newest first)."""
    from sonicmap.pipeline.jobs import list_jobs

    rows = list_jobs(get_store(), limit=limit, task=task)
    out = [
        {k: r[k] for k in ("id", "task", "status", "started_at", "finished_at", "result")}
        for r in rows
    ]
    if json_out:
        emit_json(out)
        return
    if not out:
        typer.echo("no job runs yet")
        return
    for r in out:
        res = r["result"] or {}
        detail = res.get("reason") or res.get("message") or res.get("status") or ""
        typer.echo(
            f"{r['id']:>6}  {r['started_at'][:19]}  {r['task']:<24} {r['status']:<10} {detail}"
        )
