"""The template's scheduled EventBridge rules, fired by the local scheduler (``runners.ScheduleRunner``).

moto 5.2 makes an ``AWS::Events::Rule`` (so its name, its ARN and the ``AWS::Lambda::Permission`` that
refers to it are real) but never fires a schedule. Worse, a schedule rule has no event pattern, so moto
hands *every* ``PutEvents`` on the default bus to the rule's targets, and fails on a Lambda target (a 500
for the caller), where EventBridge never matches events against a schedule rule. So moto gets such a rule
without its ``Targets``; the targets (and the rule's ARN) are resolved through stack Outputs (see
``fixups.Fixups.defer``) and described here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RULE_TYPE", "Schedule", "is_schedule_rule", "moto_rule", "rate_seconds", "schedules"]

log = logging.getLogger(__name__)
RULE_TYPE = "AWS::Events::Rule"
_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_CRON = re.compile(r"cron\(.+\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_UNSUPPORTED_TARGET_KEYS = ("InputPath", "InputTransformer")


@dataclass(frozen=True)
class Schedule:
    function: str  # logical id of the target function
    expression: str  # "rate(1 minute)", "cron(0 12 * * ? *)"
    rule_name: str  # physical
    rule_arn: str
    input: str | None = None  # the target's Input: JSON text that replaces the scheduled event

    @property
    def period(self) -> float | None:
        """Seconds between two firings of a ``rate()`` schedule; None for ``cron()``."""
        return rate_seconds(self.expression)


def rate_seconds(expression: str) -> float | None:
    """``rate(N minute|minutes|hour|hours|day|days)`` in seconds; None for ``cron(...)``.

    Raises ValueError for anything else (EventBridge rejects it too).
    """
    text = expression.strip()
    if _CRON.fullmatch(text):
        return None
    match = _RATE.fullmatch(text)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"invalid schedule expression {expression!r}")
    return float(int(match.group(1)) * _UNIT_SECONDS[match.group(2).removesuffix("s")])


def is_schedule_rule(resource: Mapping[str, Any]) -> bool:
    """A rule that only runs on a schedule (one with an event pattern as well is left to moto whole)."""
    props = resource.get("Properties") or {}
    return resource.get("Type") == RULE_TYPE and "ScheduleExpression" in props and "EventPattern" not in props


def moto_rule(logical_id: str, resource: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rule as moto gets it (without targets), and what to resolve through Outputs to describe it."""
    props = dict(resource.get("Properties") or {})
    wanted = {key: props[key] for key in ("ScheduleExpression", "State", "Targets") if key in props}
    props.pop("Targets", None)
    return {**resource, "Properties": props}, {"RuleArn": {"Fn::GetAtt": [logical_id, "Arn"]}, **wanted}


def _function_name(arn: str) -> str:
    """The function name in a (possibly qualified) function ARN; a bare name stays as it is."""
    if ":function:" in arn:
        return arn.split(":function:", 1)[1].split(":", 1)[0]
    return arn


def schedules(resolved: Mapping[str, dict[str, Any]], rule_names: Mapping[str, str],
              function_names: Mapping[str, str]) -> list[Schedule]:
    """``resolved``: each rule's values from ``moto_rule``, resolved; ``rule_names``: logical id -> physical
    name; ``function_names``: physical function name -> logical id."""
    found: list[Schedule] = []
    for logical_id, props in resolved.items():
        expression = str(props.get("ScheduleExpression") or "")
        if str(props.get("State") or "ENABLED").upper() != "ENABLED":
            log.info("%s is disabled in the template", logical_id)
            continue
        try:
            rate_seconds(expression)
        except ValueError:
            log.warning("%s: schedule expression %r is not valid; the rule is not run", logical_id, expression)
            continue
        for target in props.get("Targets") or []:
            arn = str(target.get("Arn") or "")
            function = function_names.get(_function_name(arn))
            if function is None:
                log.warning("%s: target %s is not a function of the stack; it is not run locally",
                            logical_id, target.get("Id") or arn)
                continue
            for key in _UNSUPPORTED_TARGET_KEYS:
                if target.get(key):
                    log.warning("%s: the %s of target %s is not applied locally; the whole event is sent",
                                logical_id, key, target.get("Id") or arn)
            found.append(Schedule(function=function, expression=expression, rule_name=rule_names[logical_id],
                                  rule_arn=str(props["RuleArn"]),
                                  input=None if target.get("Input") is None else str(target["Input"])))
    return found
