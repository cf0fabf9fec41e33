"""Validate compose.yaml: `docker-compose config` when available, plus the project's own checks.

Usage: python tools/check_compose.py compose.yaml
Checks that the services api, worker, beat, redis and postgres exist, that the music folder is
mounted read-only, that named volumes are declared, and that postgres uses an image with pgvector.
Exit 0 when valid; prints what is wrong otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REQUIRED = ("api", "worker", "beat", "redis", "postgres")


def structural_problems(doc: dict) -> list[str]:
    problems: list[str] = []
    services = doc.get("services") or {}
    for name in REQUIRED:
        if name not in services:
            problems.append(f"service {name!r} is missing")
    if "pgvector" not in str((services.get("postgres") or {}).get("image", "")):
        problems.append("service 'postgres' must use an image with pgvector")
    named = set((doc.get("volumes") or {}).keys())
    if not named:
        problems.append("no named volumes declared")
    music_ro = False
    for name in ("api", "worker"):
        for vol in (services.get(name) or {}).get("volumes", []) or []:
            text = vol if isinstance(vol, str) else f"{vol.get('target')}:{vol.get('read_only')}"
            if "music" in text and (text.endswith(":ro") or text.endswith(":True")):
                music_ro = True
    if not music_ro:
        problems.append("the music folder must be mounted read-only (':ro') in api/worker")
    return problems


def main(path: str) -> int:
    compose = Path(path)
    doc = yaml.safe_load(compose.read_text(encoding="utf-8"))
    problems = structural_problems(doc if isinstance(doc, dict) else {})
    exe = shutil.which("docker-compose")
    if exe:
        env_file = compose.parent / ".env.example"
        args = [exe, "-f", str(compose)]
        if env_file.exists():
            args += ["--env-file", str(env_file)]
        res = subprocess.run([*args, "config", "-q"], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            problems.append(f"docker-compose config failed: {res.stderr.strip()}")
    else:
        print("note: docker-compose not installed; structural checks only", file=sys.stderr)
    for p in problems:
        print(f"compose.yaml: {p}", file=sys.stderr)
    if not problems:
        print(f"{compose}: valid", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "compose.yaml"))
