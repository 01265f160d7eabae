"""Lambda event filtering (EventBridge-style content patterns) as applied by event source mappings."""

from __future__ import annotations

from typing import Any

__all__ = ["matches", "passes"]

_MISSING = object()


def passes(record: Any, patterns: list[dict[str, Any]]) -> bool:
    """A record passes when no patterns are set or any one of them matches."""
    return not patterns or any(matches(pattern, record) for pattern in patterns)


def matches(pattern: dict[str, Any], data: Any) -> bool:
    for key, rule in pattern.items():
        value = data.get(key, _MISSING) if isinstance(data, dict) else _MISSING
        if isinstance(rule, dict):
            if not matches(rule, value if isinstance(value, dict) else {}):
                return False
        elif isinstance(rule, list):
            if not any(_leaf(matcher, value) for matcher in rule):
                return False
        else:
            return False  # not a valid pattern: Lambda would reject it, so nothing matches
    return True


def _same(expected: Any, actual: Any) -> bool:
    # bool is an int in Python, but true must not match 1 in a pattern.
    return (type(expected) is type(actual) and expected == actual) or (
        isinstance(expected, int | float) and not isinstance(expected, bool)
        and isinstance(actual, int | float) and not isinstance(actual, bool) and expected == actual)


def _numeric(conditions: list[Any], actual: Any) -> bool:
    try:
        number = float(actual)
    except (TypeError, ValueError):
        return False
    checks = {"=": number.__eq__, "<": number.__lt__, "<=": number.__le__,
              ">": number.__gt__, ">=": number.__ge__}
    for op, bound in zip(conditions[::2], conditions[1::2], strict=False):
        if op not in checks or not checks[op](float(bound)):
            return False
    return True


def _anything_but(rule: Any, actual: Any) -> bool:
    if isinstance(rule, dict):
        if "prefix" in rule:
            return isinstance(actual, str) and not actual.startswith(rule["prefix"])
        if "suffix" in rule:
            return isinstance(actual, str) and not actual.endswith(rule["suffix"])
        return False
    excluded = rule if isinstance(rule, list) else [rule]
    return not any(_same(e, actual) for e in excluded)


def _leaf(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, dict) and "exists" in matcher:
        return bool(matcher["exists"]) == (value is not _MISSING)
    if value is _MISSING:
        return False
    actuals = value if isinstance(value, list) else [value]
    return any(_one(matcher, actual) for actual in actuals)


def _one(matcher: Any, actual: Any) -> bool:
    if not isinstance(matcher, dict):
        return _same(matcher, actual)
    if "prefix" in matcher:
        return isinstance(actual, str) and actual.startswith(str(matcher["prefix"]))
    if "suffix" in matcher:
        return isinstance(actual, str) and actual.endswith(str(matcher["suffix"]))
    if "equals-ignore-case" in matcher:
        return isinstance(actual, str) and actual.lower() == str(matcher["equals-ignore-case"]).lower()
    if "anything-but" in matcher:
        return _anything_but(matcher["anything-but"], actual)
    if "numeric" in matcher:
        return _numeric(list(matcher["numeric"]), actual)
    return False
