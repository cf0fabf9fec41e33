"""How a rejected configuration value is reported: pydantic validation errors become
:class:`~sonicmap.errors.ConfigError` messages naming the key, and URLs are shown with their
password masked."""

from __future__ import annotations

import re

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from sonicmap.errors import ConfigError


def describe_error(err: ErrorDetails) -> str:
    typ = err.get("type", "")
    msg = err.get("msg", "invalid value")
    ctx = err.get("ctx") or {}
    if typ == "extra_forbidden":
        return "unknown key (check the spelling; see config/gmm_config.yaml for the known keys)"
    if typ in ("int_parsing", "int_type", "int_from_float"):
        return "expected an integer"
    if typ in ("float_parsing", "float_type"):
        return "expected a number"
    if typ in ("bool_parsing", "bool_type"):
        return "expected true or false"
    if typ == "greater_than":
        return f"expected a number > {ctx.get('gt')}"
    if typ == "greater_than_equal":
        return f"expected a number >= {ctx.get('ge')}"
    if typ == "less_than_equal":
        return f"expected a number <= {ctx.get('le')}"
    if typ == "literal_error":
        return f"expected one of {ctx.get('expected')}"
    if typ in ("model_type", "dict_type"):
        return "expected a mapping of keys to values"
    return msg.removeprefix("Value error, ")


def format_validation_error(exc: ValidationError, prefix: str = "") -> ConfigError:
    errors = exc.errors()
    # Prefer the most specific message when a union produced several.
    err = errors[0]
    loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "literal["))]
    loc = [p for p in loc if p not in ("int", "str", "constrained-int")]
    key = ".".join(([prefix] if prefix else []) + loc) or prefix or "<root>"
    got = err.get("input")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return ConfigError(key, f"{describe_error(err)}, got {got!r}{more}")


def mask_url(url: str) -> str:
    """``scheme://user:password@host...`` with the password masked. The password runs to the
    last ``@`` (passwords may hold ``@`` unescaped): a later ``@`` in the path or query masks more
    than needed, never less."""
    return re.sub(r"(://[^:/@]*:).*@", r"\1********@", url)
