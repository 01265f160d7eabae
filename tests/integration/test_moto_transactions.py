"""The local moto's TransactWriteItems (patched so a transaction costs its items, not its table: see
localcloud.moto_patches) keeps DynamoDB's semantics: all or nothing, every item's reason in order, indexes and
the stream updated only by a transaction that commits."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from spoonfeeder.data.items import from_item, to_item

from tests.integration.test_usage import stream_iterators, stream_records


def put(table: str, pk: str, **values: Any) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": to_item({"pk": pk, "sk": "T", **values})}}


def get(table: str, pk: str) -> dict[str, Any] | None:
    got = boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": "T"}},
                                            ConsistentRead=True)
    return from_item(got["Item"]) if "Item" in got else None


def test_a_failing_condition_writes_nothing_and_names_each_reason_in_order(stack: Any) -> None:
    table, ddb = stack.resources["Table"], boto3.client("dynamodb")
    a, b, c = (f"TXN#{uuid.uuid4().hex}" for _ in range(3))
    ddb.put_item(TableName=table, Item=to_item({"pk": b, "sk": "T", "n": 1}))
    iterators = stream_iterators(table)
    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(TransactItems=[
            put(table, a, n=1, gsi2pk=f"TXNS#{a}", gsi2sk="1"),
            {"Update": {"TableName": table, "Key": {"pk": {"S": b}, "sk": {"S": "T"}},
                        "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {**put(table, c, n=1), "Put": {**put(table, c, n=1)["Put"], "ConditionExpression": "attribute_exists(pk)"}},
        ])
    reasons = refused.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "None", "ConditionalCheckFailed"]
    assert get(table, a) is None and get(table, b)["n"] == 1 and get(table, c) is None  # type: ignore[index]
    assert not ddb.query(TableName=table, IndexName="gsi2", KeyConditionExpression="gsi2pk = :p",
                         ExpressionAttributeValues={":p": {"S": f"TXNS#{a}"}})["Items"]
    assert not [r for r in stream_records(iterators) if r["dynamodb"]["Keys"]["pk"]["S"] in (a, b, c)]


def test_a_committed_transaction_writes_every_item_its_indexes_and_its_stream(stack: Any) -> None:
    table, ddb = stack.resources["Table"], boto3.client("dynamodb")
    a, b, gone, checked = (f"TXN#{uuid.uuid4().hex}" for _ in range(4))
    for pk in (b, gone, checked):
        ddb.put_item(TableName=table, Item=to_item({"pk": pk, "sk": "T", "n": 1}))
    iterators = stream_iterators(table)
    ddb.transact_write_items(TransactItems=[
        {**put(table, a, n=5, gsi2pk=f"TXNS#{a}", gsi2sk="1"),
         "Put": {**put(table, a, n=5, gsi2pk=f"TXNS#{a}", gsi2sk="1")["Put"],
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": table, "Key": {"pk": {"S": b}, "sk": {"S": "T"}}, "UpdateExpression": "ADD n :one",
                    "ConditionExpression": "n = :was",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":was": {"N": "1"}}}},
        {"Delete": {"TableName": table, "Key": {"pk": {"S": gone}, "sk": {"S": "T"}}}},
        {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": checked}, "sk": {"S": "T"}},
                            "ConditionExpression": "attribute_exists(pk)"}},
    ])
    assert get(table, a)["n"] == 5 and get(table, b)["n"] == 2 and get(table, gone) is None  # type: ignore[index]
    indexed = ddb.query(TableName=table, IndexName="gsi2", KeyConditionExpression="gsi2pk = :p",
                        ExpressionAttributeValues={":p": {"S": f"TXNS#{a}"}})["Items"]
    assert [i["pk"]["S"] for i in indexed] == [a]
    events = {(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in stream_records(iterators)}
    assert {("INSERT", a), ("MODIFY", b), ("REMOVE", gone)} <= events


def test_two_operations_on_one_item_and_all_old_on_failure(stack: Any) -> None:
    table, ddb = stack.resources["Table"], boto3.client("dynamodb")
    a = f"TXN#{uuid.uuid4().hex}"
    ddb.put_item(TableName=table, Item=to_item({"pk": a, "sk": "T", "n": 7}))
    with pytest.raises(ClientError) as twice:
        ddb.transact_write_items(TransactItems=[put(table, a, n=1), put(table, a, n=2)])
    assert twice.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(TransactItems=[{"Put": {
            **put(table, a, n=3)["Put"], "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}])
    (reason,) = refused.value.response["CancellationReasons"]
    assert reason["Code"] == "ConditionalCheckFailed" and reason["Item"]["n"] == {"N": "7"}
    assert get(table, a)["n"] == 7  # type: ignore[index]
