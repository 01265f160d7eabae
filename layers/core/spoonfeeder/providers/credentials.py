"""Where a provider's key comes from: the user's own setting (KMS-encrypted under {owner, provider}), else the
operator default in Secrets Manager. A user's endpoint_url goes only with the user's own key: the operator's key
is never sent to an endpoint a user chose."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from spoonfeeder.models.provider_settings import KeySource, StoredSetting, keyed
from spoonfeeder.providers.base import Credentials, ProviderError
from spoonfeeder.settings import ProviderKeySettings

if TYPE_CHECKING:  # made on a worker's first task, not at its cold start
    from spoonfeeder.data.kms import KeyCipher
    from spoonfeeder.data.provider_settings import ProviderSettingsStore

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


def operator_default(secret_arn: str, provider: str) -> Credentials | None:
    entry = operator_defaults(secret_arn).get(str(provider))
    if not isinstance(entry, dict) or not entry.get("api_key"):
        return None
    return Credentials(api_key=str(entry["api_key"]), base_url=entry.get("base_url"),
                       simulated=bool(entry.get("simulated")))


def key_context(owner: str, provider: str) -> dict[str, str]:
    """The KMS encryption context of a user's key: decrypting needs the same owner and provider again."""
    return {"owner": owner, "provider": str(provider)}


@dataclass
class CredentialResolver:
    settings: ProviderSettingsStore
    cipher: KeyCipher
    secret_arn: str
    allowed_hosts: frozenset[str]
    resolve_host: Callable[[str], Iterable[str]] | None = None  # how endpoint names are resolved (tests: their own)

    @classmethod
    def of(cls, config: ProviderKeySettings) -> CredentialResolver:
        from spoonfeeder.data.kms import KeyCipher
        from spoonfeeder.data.provider_settings import ProviderSettingsStore
        from spoonfeeder.providers import endpoints

        return cls(ProviderSettingsStore(config.table_name), KeyCipher(config.data_key_arn),
                   config.provider_secret_arn, endpoints.allowed_hosts(config.provider_endpoint_allowed_hosts))

    def resolve(self, owner: str, provider: str) -> Credentials:
        """The credentials a task of `owner` on `provider` runs with (one GetItem for a cloud provider)."""
        setting = self.settings.get(owner, provider) if keyed(provider) else None
        return self.for_setting(owner, provider, setting)

    def for_setting(self, owner: str, provider: str, setting: StoredSetting | None) -> Credentials:
        """The credentials of `owner`'s task given their setting (as read by the caller)."""
        if setting is not None and setting.api_key_ciphertext:
            return self._own(owner, provider, setting)
        default = operator_default(self.secret_arn, provider)
        if default is None:
            raise ProviderError("PROVIDER_NOT_CONFIGURED", f"no credentials are configured for {provider}: "
                                "set your own key (PUT /api/settings/{provider})", retryable=False)
        return default

    def source(self, setting: StoredSetting | None, provider: str) -> KeySource:
        if setting is not None and setting.api_key_ciphertext:
            return "user"
        return "operator" if configured(self.secret_arn).get(str(provider), {}).get("configured") else "none"

    def _own(self, owner: str, provider: str, setting: StoredSetting) -> Credentials:
        from spoonfeeder.data.kms import CannotDecrypt

        assert setting.api_key_ciphertext is not None
        try:
            # The context names who asks (the task's owner), never what the item says: a whole item copied into
            # another user's partition, `owner` attribute included, still fails to decrypt.
            key = self.cipher.decrypt(setting.api_key_ciphertext, key_context(owner, provider))
        except CannotDecrypt:
            # Not this user's ciphertext (copied from another item) or damaged: never used, never a fallback.
            raise ProviderError("API_KEY_UNREADABLE", f"your stored {provider} key cannot be decrypted; "
                                "set it again", retryable=False) from None
        if setting.endpoint_url:
            from spoonfeeder.providers import endpoints  # only for the few users with an endpoint of their own

            try:
                endpoints.check_resolved(setting.endpoint_url, self.allowed_hosts,
                                         self.resolve_host or endpoints.resolve_addresses)
            except endpoints.EndpointRefused as refused:
                raise ProviderError(refused.code, refused.message, retryable=False) from None
        return Credentials(api_key=key, base_url=setting.endpoint_url)


@cache
def resolver(config: ProviderKeySettings) -> CredentialResolver:
    """The function's resolver, made once per process from its settings."""
    return CredentialResolver.of(config)
