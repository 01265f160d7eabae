"""S3 bucket policies as AWS evaluates them, applied inside the local moto server process only.

moto evaluates a bucket's policy on object calls, but with no request context, it understands no
condition operator but StringEquals (the others count as met), and it takes a statement whose condition does
not match as an explicit Deny. So the template's TLS-only statement (Deny when ``aws:SecureTransport`` is
false) refused every object call. Here the common operators are evaluated, a statement whose condition does
not match the request does not apply (as on AWS), and object calls are evaluated as arriving over TLS: the
local endpoint stands in for S3's HTTPS endpoint, which the SDKs and the deployed functions always use.
A refusal of plain HTTP can therefore not be shown locally (docs/architecture.md lists it among the gaps).

Presigned URLs (query-string SigV4): with IAM enforced moto read credentials from the Authorization header
only, so every presigned GET failed with a 500. Here such a request is authenticated as S3 does it: the
signature is computed again over the URL with the signer's secret, the URL must not have expired
(X-Amz-Date + X-Amz-Expires), and the action is then checked against the signer's policies, as for any call.
And a presigned GET of a missing key answered SignatureDoesNotMatch when the URL carried `response-content-*`
overrides (moto took them for the metadata a presigned PUT must send as headers); it is now NoSuchKey.
"""

from __future__ import annotations

import fnmatch
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

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


def presigned_query(path: str, headers: Any) -> dict[str, str] | None:
    """The auth parameters of a presigned URL's query, if the request is one (no Authorization header)."""
    if "Authorization" in headers:
        return None
    query = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
    return query if "X-Amz-Credential" in query and "X-Amz-Signature" in query else None


def header_form(headers: Any, query: dict[str, str]) -> dict[str, str]:
    """The request's headers with the presigned credentials where moto reads them (scope and session token)."""
    form = {**dict(headers.items()), "Authorization": f"AWS4-HMAC-SHA256 Credential={query['X-Amz-Credential']}, "
            f"SignedHeaders={query.get('X-Amz-SignedHeaders', 'host')}, Signature={query['X-Amz-Signature']}"}
    if "X-Amz-Security-Token" in query:
        form["X-Amz-Security-Token"] = query["X-Amz-Security-Token"]
    return form


def presigned_signature(method: str, host: str, path: str, query: dict[str, str], credentials: Any) -> str:
    """The signature S3 expects on this presigned URL: SigV4 over the URL as sent, its signature left out, at
    the time it names (botocore's `add_auth` would sign at the present second instead)."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest

    parts = urlsplit(path)
    # Kept as sent (percent-encoded): SigV4's canonical query is built from the encoded pairs.
    signed = "&".join(pair for pair in parts.query.split("&") if not pair.startswith("X-Amz-Signature="))
    request = AWSRequest(method=method, url=f"http://{host}{parts.path}?{signed}", headers={"host": host})
    request.context["timestamp"] = query["X-Amz-Date"]
    auth = S3SigV4QueryAuth(credentials, "s3", query["X-Amz-Credential"].split("/")[2],
                            expires=int(query["X-Amz-Expires"]))
    return str(auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request))


def expired(query: dict[str, str], now: datetime) -> bool:
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return now > signed_at + timedelta(seconds=int(query["X-Amz-Expires"]))


def _presigned_urls() -> None:
    from moto.iam.access_control import S3IAMRequest

    init, check_signature = S3IAMRequest.__init__, S3IAMRequest.check_signature

    def init_presigned(self: S3IAMRequest, account_id: str, method: str, path: str, data: Any, body: bytes,
                       headers: Any, action: str) -> None:
        self.presigned = presigned_query(path, headers)
        if self.presigned is not None:
            headers = header_form(headers, self.presigned)
        init(self, account_id, method, path, data, body, headers, action)

    def check_presigned(self: S3IAMRequest) -> None:
        query = getattr(self, "presigned", None)
        if query is None:
            check_signature(self)
            return
        if expired(query, datetime.now(UTC)):
            self._raise_access_denied()
        credentials = self._access_key.create_credentials()
        if presigned_signature(self._method, self._headers["Host"], self._path, query,
                               credentials) != query["X-Amz-Signature"]:
            self._raise_signature_does_not_match()

    S3IAMRequest.__init__ = init_presigned  # type: ignore[method-assign]
    S3IAMRequest.check_signature = check_presigned  # type: ignore[method-assign]

    from moto.s3.responses import S3Response

    invalid_headers = S3Response._invalid_headers

    def invalid_metadata_headers(self: S3Response, url: str, headers: dict[str, str]) -> bool:
        parts = urlsplit(url)
        kept = "&".join(pair for pair in parts.query.split("&") if not pair.startswith("response-"))
        return invalid_headers(self, urlunsplit(parts._replace(query=kept)), headers)

    S3Response._invalid_headers = invalid_metadata_headers  # type: ignore[method-assign]


def apply() -> None:
    _presigned_urls()
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
