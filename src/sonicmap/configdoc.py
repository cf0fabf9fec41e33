"""Generate the configuration reference (README and docs/configuration.md) from the code.

The table of ``SONICMAP_*`` variables comes from :class:`sonicmap.config.Settings` (names,
types, defaults, descriptions); the GMM section is the shipped ``config/gmm_config.yaml``
plus the constraints of :class:`sonicmap.config.GmmConfig`. A test keeps the docs in sync.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from sonicmap.config import GmmConfig, Settings, default_gmm_config_path

BEGIN = "<!-- BEGIN GENERATED CONFIG REFERENCE (python -m sonicmap.configdoc) -->"
END = "<!-- END GENERATED CONFIG REFERENCE -->"

_DEFAULT_SHOWN = {
    "data_dir": "the platform's user data folder (Linux: ~/.local/share/sonicmap)",
    "timezone": "the host's local zone",
    "database_url": "sqlite:///<data dir>/sonicmap.db",
    "result_backend": "the broker URL when it is Redis",
    "jobs": "number of CPU cores",
}


def _type_name(annotation: Any) -> str:
    args = getattr(annotation, "__args__", None)
    text = str(annotation) if args else (getattr(annotation, "__name__", None) or str(annotation))
    return (
        text.replace(" | ", " or ")
        .replace("NoneType", "None")
        .replace("typing.", "")
        .replace("pathlib.", "")
        .replace("pydantic.types.", "")
        .replace("Annotated[", "")
        .replace(", NoDecode]", "")
    )


def settings_table() -> str:
    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = _DEFAULT_SHOWN.get(name)
        if default is None:
            d = field.default
            default = "unset" if d is None else ("none" if d == [] else f"`{d}`")
            if field.default_factory is not None and name not in _DEFAULT_SHOWN:
                default = "empty"
        rows.append(
            f"| `SONICMAP_{name.upper()}` | {_type_name(field.annotation)} | {default} "
            f"| {field.description or ''} |"
        )
    return "\n".join(rows)


def _gmm_rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows: list[str] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        key = f"{prefix}.{name}"
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.extend(_gmm_rows(ann, key))
            continue
        limits = [
            f"{k} {getattr(m, k)}"
            for m in field.metadata
            for k in ("ge", "gt", "le", "lt")
            if getattr(m, k, None) is not None
        ]
        d = field.default
        shown = "—" if d is None else f"`{d}`"
        rows.append(f"| `{key}` | {_type_name(ann)} | {shown} | {', '.join(limits) or ''} |")
    return rows


def gmm_table() -> str:
    rows = ["| key | type | default | limits |", "|---|---|---|---|"]
    rows += _gmm_rows(GmmConfig, "gmm")
    return "\n".join(r.replace("`gmm.", "`") for r in rows)


def reference_markdown() -> str:
    yaml_text = default_gmm_config_path().read_text(encoding="utf-8").strip()
    return "\n".join(
        [
            BEGIN,
            "### Environment (`SONICMAP_*`)",
            "",
            settings_table(),
            "",
            "### `config/gmm_config.yaml`",
            "",
            "Shipped file (point `SONICMAP_GMM_CONFIG` at a copy to change it). Unknown keys, wrong "
            "types, negative thresholds and unknown day names are refused at start-up with the key "
            "path. `schedule: interval` takes `every: 30s | 15m | 6h | 7d` instead of day/hour/minute.",
            "",
            "```yaml",
            yaml_text,
            "```",
            "",
            gmm_table(),
            END,
        ]
    )


def update_file(text: str) -> str:
    """Replace the generated block in ``text`` (between BEGIN and END markers)."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + reference_markdown() + text[end:]


if __name__ == "__main__":  # python -m sonicmap.configdoc  → rewrites README.md in place
    from pathlib import Path

    readme = Path("README.md")
    readme.write_text(update_file(readme.read_text(encoding="utf-8")), encoding="utf-8")
    print("README.md configuration reference updated")
