"""The local moto server's table stream keeps working through cancelled transactions (see moto_patches)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError


def test_a_cancelled_transaction_does_not_cut_the_stream_off(stack: Any) -> None:
    table = stack.resources["Table"]
    ddb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(TransactItems=[{"Put": {
            "TableName": table, "Item": {"pk": {"S": "PROBE#1"}, "sk": {"S": "x"}},
            "ConditionExpression": "attribute_exists(pk)"}}])
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    ddb.transact_write_items(TransactItems=[{"Put": {
        "TableName": table, "Item": {"pk": {"S": "PROBE#2"}, "sk": {"S": "x"}}}}])
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["PROBE#2"]


def test_a_transaction_cancelled_by_its_last_item_writes_none_of_the_others(stack: Any) -> None:
    """moto now copies the table once per transaction for its rollback (not once per item): the one copy still
    undoes every write made before the failing condition."""
    table, ddb = stack.resources["Table"], boto3.client("dynamodb")
    ddb.put_item(TableName=table, Item={"pk": {"S": "ROLLBACK#kept"}, "sk": {"S": "x"}, "n": {"N": "1"}})
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "ROLLBACK#new"}, "sk": {"S": "x"}}}},
            {"Update": {"TableName": table, "Key": {"pk": {"S": "ROLLBACK#kept"}, "sk": {"S": "x"}},
                        "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "ROLLBACK#other"}, "sk": {"S": "x"}},
                     "ConditionExpression": "attribute_exists(pk)"}}])
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    got = ddb.get_item(TableName=table, Key={"pk": {"S": "ROLLBACK#kept"}, "sk": {"S": "x"}}, ConsistentRead=True)
    assert got["Item"]["n"] == {"N": "1"}
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "ROLLBACK#new"}, "sk": {"S": "x"}},
                                      ConsistentRead=True)
