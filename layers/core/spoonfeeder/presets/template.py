"""Prompt templates: `{name}` placeholders, `{{` and `}}` for literal braces.

Parsed with the standard library's format-string grammar, but rendered by hand from the parsed pieces: only
plain identifiers are placeholders (no `{0}`, `{a.b}`, `{a[0]}`, `{a!r}` or `{a:>9}`), so a template can never
reach an attribute or an index of a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from string import Formatter

from spoonfeeder.errors import ValidationFailed

_PARSER = Formatter()


def _pieces(template: str, *, field: str) -> list[tuple[str, str | None]]:
    """(literal text, placeholder name or None) pairs; a malformed template is a 400 naming the field."""
    try:
        parsed = list(_PARSER.parse(template))
    except ValueError as exc:  # a lone "{" or "}"
        raise ValidationFailed(f"{field} is not a valid template: {exc}; write {{{{ and }}}} for literal braces",
                               code="INVALID_TEMPLATE", details={"field": field}) from None
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is not None and (not name.isidentifier() or spec or conversion):
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValidationFailed(f"{field}: placeholder {{{shown}}} is not a plain name (letters, digits, _)",
                                   code="INVALID_TEMPLATE", details={"field": field, "placeholder": shown})
        pieces.append((literal, name))
    return pieces


def placeholders(template: str, *, field: str = "prompt_template") -> list[str]:
    """The placeholder names of a template, each once, in order of appearance."""
    return list(dict.fromkeys(name for _, name in _pieces(template, field=field) if name is not None))


def render(template: str, variables: Mapping[str, str], *, field: str = "prompt_template") -> str:
    """The template with each placeholder replaced by its variable (every name must be given)."""
    return "".join(literal + (variables[name] if name is not None else "")
                   for literal, name in _pieces(template, field=field))


def check_variables(needed: Iterable[str], given: Mapping[str, str]) -> None:
    """400 naming the placeholders without a value and the variables no placeholder uses."""
    wanted = list(dict.fromkeys(needed))
    missing = [name for name in wanted if name not in given]
    unknown = sorted(set(given) - set(wanted))
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"unknown {', '.join(unknown)}"] if unknown else [])
        raise ValidationFailed(f"the preset's placeholders and the variables differ: {'; '.join(parts)}",
                               code="TEMPLATE_VARIABLES",
                               details={"missing": missing, "unknown": unknown, "placeholders": wanted})
