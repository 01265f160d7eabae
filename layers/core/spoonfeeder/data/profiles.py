"""Presets in the single table: one item per preset under its owner's partition.

Keys: `pk=OWNER#{owner}`, `sk=PROFILE#{id}` (ULID ids, so the partition sorts by creation). The owner is part
of the key: a read with another user's id finds nothing, which the API answers as 404.
"""

from __future__ import annotations

from typing import Any

from spoonfeeder.data.aws import client
from spoonfeeder.data.items import from_item, to_item
from spoonfeeder.models.profiles import Profile

PROFILE_PREFIX = "PROFILE#"
PAGE_KEY_FIELDS = ("pk", "sk")  # what a page's cursor holds
_NOT_STORED_AS_KEY = ("pk", "sk", "entity")


def owner_pk(owner: str) -> str:
    return f"OWNER#{owner}"


def profile_key(owner: str, profile_id: str) -> dict[str, Any]:
    return {"pk": {"S": owner_pk(owner)}, "sk": {"S": f"{PROFILE_PREFIX}{profile_id}"}}


def _profile(item: dict[str, Any]) -> Profile:
    values = from_item(item)
    for name in _NOT_STORED_AS_KEY:
        values.pop(name, None)
    return Profile.model_validate(values)


def profile_item(profile: Profile) -> dict[str, Any]:
    item = to_item({**profile.model_dump(mode="json"), "entity": "profile"})
    return {**item, **profile_key(profile.owner, profile.id)}


class ProfileStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def get(self, owner: str, profile_id: str) -> Profile | None:
        got = self.ddb.get_item(TableName=self.table, Key=profile_key(owner, profile_id), ConsistentRead=True)
        return _profile(got["Item"]) if "Item" in got else None

    def put(self, profile: Profile, *, new: bool) -> bool:
        """Write a new preset (`new`), or replace an existing one; False when it exists (new) or not (replace)."""
        condition = "attribute_not_exists(pk)" if new else "attribute_exists(pk)"
        try:
            self.ddb.put_item(TableName=self.table, Item=profile_item(profile), ConditionExpression=condition)
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def delete(self, owner: str, profile_id: str) -> bool:
        """Delete a preset; False when there was none."""
        try:
            self.ddb.delete_item(TableName=self.table, Key=profile_key(owner, profile_id),
                                 ConditionExpression="attribute_exists(pk)")
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def list(self, owner: str, *, limit: int,
             start_key: dict[str, Any] | None) -> tuple[list[Profile], dict[str, Any] | None]:
        """The owner's presets, newest first; the page and the key to continue after it."""
        query: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :o AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":o": {"S": owner_pk(owner)}, ":p": {"S": PROFILE_PREFIX}},
            # One past the page shows whether there is more (a key condition is not a filter: no short pages).
            "ScanIndexForward": False, "Limit": limit + 1, "ConsistentRead": True,
        }
        if start_key:
            query["ExclusiveStartKey"] = start_key
        items = self.ddb.query(**query)["Items"]
        more = len(items) > limit
        page = items[:limit]
        return [_profile(i) for i in page], ({k: page[-1][k] for k in PAGE_KEY_FIELDS} if more else None)
