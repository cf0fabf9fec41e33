"""The configuration reference in README.md is generated from the code and must stay in sync."""

from pathlib import Path

from sonicmap.configdoc import update_file

ROOT = Path(__file__).resolve().parents[2]


def test_readme_config_reference_is_up_to_date() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert update_file(text) == text, "run: python -m sonicmap.configdoc"


def test_readme_names_every_setting() -> None:
    from sonicmap.config import Settings

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"SONICMAP_{name.upper()}" in text


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./scripts/test" in readme
    assert "exec ./scripts/test" in ci
