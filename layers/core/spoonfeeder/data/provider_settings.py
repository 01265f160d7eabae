"""Users' provider settings in the single table: `OWNER#{owner}` / `SETTING#{provider}`, one item each.

Changes are UpdateItems of the changed attributes (no read first), so a test result recorded meanwhile is never
overwritten by a stale copy. The key's ciphertext is binary; the item stays a few hundred bytes.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from spoonfeeder.data.aws import client
from spoonfeeder.data.items import from_item, to_value
from spoonfeeder.models.provider_settings import ConnectionStatus, KeyedProvider, StoredSetting

SK_PREFIX = "SETTING#"
ENTITY = "provider_setting"


def _key(owner: str, provider: str) -> dict[str, Any]:
    return {"pk": {"S": f"OWNER#{owner}"}, "sk": {"S": f"{SK_PREFIX}{provider}"}}


def _setting(item: dict[str, Any]) -> StoredSetting:
    values = from_item(item)
    blob = values.get("api_key_ciphertext")
    return StoredSetting(  # owner and provider from the key, which no copied attribute can change
        owner=values["pk"].removeprefix("OWNER#"), provider=KeyedProvider(values["sk"].removeprefix(SK_PREFIX)),
        api_key_ciphertext=bytes(blob.value) if blob is not None else None,
        api_key_last4=values.get("api_key_last4"), endpoint_url=values.get("endpoint_url"),
        default_model=values.get("default_model"),
        status=ConnectionStatus(values.get("status") or ConnectionStatus.UNTESTED),
        last_tested=values.get("last_tested"), error_code=values.get("error_code"),
        error_message=values.get("error_message"), created_at=values.get("created_at"),
        updated_at=values.get("updated_at"))


def _expression(set_values: dict[str, Any], remove: tuple[str, ...] = (),
                set_if_absent: dict[str, Any] | None = None) -> dict[str, Any]:
    """An UpdateExpression setting `set_values`, setting `set_if_absent` only where the item has none, and
    removing `remove`; None values are removed too (DynamoDB stores no nulls)."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets: list[str] = []
    removes = list(remove)
    for name, value in set_values.items():
        if value is None:
            removes.append(name)
            continue
        names[f"#{name}"] = name
        values[f":{name}"] = {"B": value} if isinstance(value, bytes) else to_value(value)
        sets.append(f"#{name} = :{name}")
    for name, value in (set_if_absent or {}).items():
        names[f"#{name}"], values[f":{name}"] = name, to_value(value)
        sets.append(f"#{name} = if_not_exists(#{name}, :{name})")
    for name in removes:
        names[f"#{name}"] = name
    expression = "SET " + ", ".join(sets)
    if removes:
        expression += " REMOVE " + ", ".join(f"#{name}" for name in dict.fromkeys(removes))
    return {"UpdateExpression": expression, "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}


class ProviderSettingsStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def get(self, owner: str, provider: str) -> StoredSetting | None:
        got = self.ddb.get_item(TableName=self.table, Key=_key(owner, provider), ConsistentRead=True)
        return _setting(got["Item"]) if "Item" in got else None

    def list(self, owner: str) -> list[StoredSetting]:
        """Every setting of the owner (a handful: one per cloud provider)."""
        got = self.ddb.query(
            TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
            ExpressionAttributeValues={":pk": {"S": f"OWNER#{owner}"}, ":sk": {"S": SK_PREFIX}})
        return [_setting(item) for item in got.get("Items", [])]

    def default_model(self, owner: str, provider: str) -> str | None:
        got = self.ddb.get_item(TableName=self.table, Key=_key(owner, provider), ProjectionExpression="default_model")
        return from_item(got["Item"]).get("default_model") if "Item" in got else None

    def change(self, owner: str, provider: str, changes: dict[str, Any], *, at: str) -> StoredSetting:
        """Apply `changes` (None removes an attribute), creating the setting if it does not exist yet."""
        expression = _expression({**changes, "updated_at": at}, set_if_absent={
            "entity": ENTITY, "owner": owner, "provider": provider, "created_at": at})
        done = self.ddb.update_item(TableName=self.table, Key=_key(owner, provider), ReturnValues="ALL_NEW",
                                    **expression)
        return _setting(done["Attributes"])

    def record_test(self, tested: StoredSetting | None, owner: str, provider: str, *, status: ConnectionStatus,
                    at: str, error_code: str | None, error_message: str | None) -> StoredSetting | None:
        """Record a test's outcome on the setting that was tested (`tested`, None when the user had none), only
        if it is unchanged since; None when it changed meanwhile (the outcome is of a configuration gone)."""
        outcome = {"status": str(status), "last_tested": at, "error_code": error_code, "error_message": error_message}
        expression = _expression(outcome, set_if_absent={
            "entity": ENTITY, "owner": owner, "provider": provider, "created_at": at, "updated_at": at})
        if tested is None:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "#updated_at = :tested_version"
            expression["ExpressionAttributeNames"]["#updated_at"] = "updated_at"
            expression["ExpressionAttributeValues"][":tested_version"] = {"S": tested.updated_at or ""}
        try:
            done = self.ddb.update_item(TableName=self.table, Key=_key(owner, provider), ReturnValues="ALL_NEW",
                                        ConditionExpression=condition, **expression)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return _setting(done["Attributes"])

    def delete(self, owner: str, provider: str) -> bool:
        """Remove the setting; False when there was none."""
        try:
            self.ddb.delete_item(TableName=self.table, Key=_key(owner, provider),
                                 ConditionExpression="attribute_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
