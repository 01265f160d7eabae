"""Use cases of a user's provider settings (GET/PUT/DELETE /api/settings, and the connection test).

Not to be confused with `spoonfeeder.settings`, the functions' own configuration. Keys are encrypted before
anything is written and never leave this module in clear except to the provider's SDK during a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from spoonfeeder import ids
from spoonfeeder.data.kms import KeyCipher
from spoonfeeder.data.provider_settings import ProviderSettingsStore
from spoonfeeder.errors import Conflict, NotFound, Unprocessable
from spoonfeeder.models.kinds import Provider
from spoonfeeder.models.provider_setting_api import ProviderSettingUpdate, ProviderSettingView
from spoonfeeder.models.provider_settings import (
    ERROR_MESSAGE_MAX_CHARS,
    ConnectionStatus,
    KeyedProvider,
    StoredSetting,
    keyed,
    masked,
)
from spoonfeeder.providers import endpoints, registry
from spoonfeeder.providers.base import ProviderError
from spoonfeeder.providers.credentials import CredentialResolver, key_context

logger = Logger(child=True)

#: What a new key or endpoint resets: the last test was of another configuration.
_UNTESTED = {"status": str(ConnectionStatus.UNTESTED), "last_tested": None, "error_code": None,
             "error_message": None}


def _redacted(message: str, secret: str | None) -> str:
    """A provider's message as we keep it: bounded, and without the key should the provider have echoed it."""
    if secret:
        message = message.replace(secret, masked(secret[-4:]) or "")
    return message[:ERROR_MESSAGE_MAX_CHARS]


@dataclass
class ProviderSettingsService:
    store: ProviderSettingsStore
    cipher: KeyCipher
    credentials: CredentialResolver
    test_timeout: float

    def _view(self, owner: str, provider: KeyedProvider, setting: StoredSetting | None) -> ProviderSettingView:
        return ProviderSettingView.of(setting or StoredSetting(owner=owner, provider=provider),
                                      self.credentials.source(setting, provider))

    def list(self, owner: str) -> list[ProviderSettingView]:
        """Every cloud provider, configured or not, in a fixed order (one Query)."""
        stored = {setting.provider: setting for setting in self.store.list(owner)}
        return [self._view(owner, provider, stored.get(provider)) for provider in KeyedProvider]

    def get(self, owner: str, provider: KeyedProvider) -> ProviderSettingView:
        return self._view(owner, provider, self.store.get(owner, provider))

    def default_model(self, owner: str, provider: str) -> str | None:
        """The model the user's setting names for tasks that name none (read only for a cloud provider)."""
        return self.store.default_model(owner, provider) if keyed(provider) else None

    def put(self, owner: str, provider: KeyedProvider, update: ProviderSettingUpdate) -> ProviderSettingView:
        """Change what the body names (left out: kept; null: removed). Everything is checked before the one
        write; a new key or endpoint makes the setting untested again."""
        given = update.model_fields_set
        changes: dict[str, Any] = {}
        if "endpoint_url" in given:
            if update.endpoint_url is not None:
                endpoints.check_url(update.endpoint_url, self.credentials.allowed_hosts)
            changes["endpoint_url"] = update.endpoint_url
        if "default_model" in given:
            changes["default_model"] = update.default_model
        if "api_key" in given:
            key = update.api_key
            changes["api_key_ciphertext"] = self.cipher.encrypt(key, key_context(owner, provider)) if key else None
            changes["api_key_last4"] = key[-4:] if key else None
        if "api_key" in given or "endpoint_url" in given:
            changes.update(_UNTESTED)
        setting = self.store.change(owner, provider, changes, at=ids.now_iso())
        logger.info("provider setting changed", extra={"provider": str(provider), "fields": sorted(given)})
        return self._view(owner, provider, setting)

    def delete(self, owner: str, provider: KeyedProvider) -> None:
        if not self.store.delete(owner, provider):
            raise NotFound(f"no {provider} setting to delete")

    def test(self, owner: str, provider: KeyedProvider) -> ProviderSettingView:
        """One cheap real call (list the models) with the key a task would use; records its outcome."""
        setting = self.store.get(owner, provider)
        status, code, message = self._call(owner, provider, setting)
        recorded = self.store.record_test(setting, owner, provider, status=status, at=ids.now_iso(),
                                          error_code=code, error_message=message)
        if recorded is None:
            raise Conflict("the setting changed while it was being tested; test it again",
                           code="SETTING_CHANGED")
        logger.info("provider setting tested", extra={"provider": str(provider), "status": str(status),
                                                      "code": code})
        return self._view(owner, provider, recorded)

    def _call(self, owner: str, provider: KeyedProvider,
              setting: StoredSetting | None) -> tuple[ConnectionStatus, str | None, str | None]:
        """The outcome of listing the provider's models with the credentials a task of `owner` would use."""
        try:
            creds = self.credentials.for_setting(owner, provider, setting)
        except ProviderError as err:  # no key at all, an unreadable one, a refused endpoint
            return ConnectionStatus.ERROR, err.code, _redacted(err.message, None)
        try:
            adapter = registry.text_provider(Provider(provider), creds, timeout=self.test_timeout)
        except LookupError:
            raise Unprocessable(f"{provider} cannot be tested yet: it has no adapter", code="NOT_AVAILABLE") from None
        try:
            adapter.test_connection()
        except ProviderError as err:
            return ConnectionStatus.ERROR, err.code, _redacted(err.message, creds.api_key)
        except Exception as exc:  # an SDK failure the adapter does not map: a test reports it, not a 500
            # Only the type: an unexpected error's text may quote the request, and so the key.
            logger.warning("provider test failed unexpectedly", extra={"provider": str(provider),
                                                                       "error": type(exc).__name__})
            return ConnectionStatus.ERROR, "PROVIDER_ERROR", type(exc).__name__
        return ConnectionStatus.CONNECTED, None, None
