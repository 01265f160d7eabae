"""Where a provider's key comes from: the operator default in Secrets Manager (per-user keys come later)."""

from __future__ import annotations

from typing import Any

from spoonfeeder.models.tasks import Provider
from spoonfeeder.providers.base import Credentials, ProviderError

_CACHE_SECONDS = 300
#: Imported on first use: functions that never read the secret (dead letters) skip its cost at cold start.
PARAMETERS_MODULE = "aws_lambda_powertools.utilities.parameters"


def operator_defaults(secret_arn: str) -> dict[str, Any]:
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(secret_arn, transform="json", max_age=_CACHE_SECONDS)
    return value if isinstance(value, dict) else {}


def configured(secret_arn: str) -> dict[str, dict[str, bool]]:
    """Which providers have credentials, and whether they are simulated - never the keys themselves."""
    return {
        name: {"configured": bool(entry.get("api_key")), "simulated": bool(entry.get("simulated"))}
        for name, entry in operator_defaults(secret_arn).items()
        if isinstance(entry, dict)
    }


def resolve(secret_arn: str, provider: Provider) -> Credentials:
    entry = operator_defaults(secret_arn).get(str(provider))
    if not isinstance(entry, dict) or not entry.get("api_key"):
        raise ProviderError("PROVIDER_NOT_CONFIGURED", f"no credentials are configured for {provider}",
                            retryable=False)
    return Credentials(api_key=str(entry["api_key"]), base_url=entry.get("base_url"),
                       simulated=bool(entry.get("simulated")))
