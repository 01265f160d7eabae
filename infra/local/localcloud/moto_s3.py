"""S3 bucket policies as AWS evaluates them, applied inside the local moto server process only.

moto evaluates a bucket's policy on object calls, but with no request context, it understands no
condition operator but StringEquals (the others count as met), and it takes a statement whose condition does
not match as an explicit Deny. So the template's TLS-only statement (Deny when ``aws:SecureTransport`` is
false) refused every object call. Here the common operators are evaluated, a statement whose condition does
not match the request does not apply (as on AWS), and object calls are evaluated as arriving over TLS: the
local endpoint stands in for S3's HTTPS endpoint, which the SDKs and the deployed functions always use.
A refusal of plain HTTP can therefore not be shown locally (docs/architecture.md lists it among the gaps).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

#: The request context AWS gives a call that arrives at S3's HTTPS endpoint.
TLS_CONTEXT = {"aws:SecureTransport": "true"}



def _values(value: Any) -> list[str]:
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in (value if isinstance(value, list) else [value])]


def _matches(operator: str, expected: list[str], actual: str) -> bool:
    base = operator.removesuffix("IfExists")
    if base == "Bool":
        return actual.lower() in (e.lower() for e in expected)
    if base in ("StringEquals", "ArnEquals"):
        return actual in expected
    if base == "StringNotEquals":
        return actual not in expected
    if base in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(actual, e) for e in expected)
    if base == "StringNotLike":
        return not any(fnmatch.fnmatchcase(actual, e) for e in expected)
    return True  # an operator not read here counts as met, as moto does


def conditions_met(conditions: dict[str, Any] | None, context: dict[str, str]) -> bool:
    """Every condition of a statement holds for a request with `context` (a missing key fails, unless the
    operator ends in IfExists)."""
    for operator, keys in (conditions or {}).items():
        for key, expected in keys.items():
            actual = context.get(key)
            if actual is None:
                if not operator.endswith("IfExists"):
                    return False
                continue
            if not _matches(operator, _values(expected), actual):
                return False
    return True


def apply() -> None:
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        statements = json.loads(self.policy.decode()).get("Statement") or []
        permitted = False
        for statement in statements if isinstance(statements, list) else [statements]:
            if not conditions_met(statement.get("Condition"), TLS_CONTEXT):
                continue  # a statement whose condition the request does not meet does not apply
            evaluated = IAMPolicyStatement({k: v for k, v in statement.items() if k != "Condition"})
            result = evaluated.is_action_permitted(action, resource)
            if result == PermissionResult.DENIED:
                return result
            permitted = permitted or result == PermissionResult.PERMITTED
        return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
