"""How long one TransactWriteItems takes in the local moto as the table grows, with the project's patch
(localcloud.moto_patches: a transaction keeps only its own items' old versions) and with moto as released (it
deep-copies every table a transaction names). moto's DynamoDB backend runs in this process (moto.mock_aws);
the items are task-sized and carry the task indexes' keys (gsi1, gsi3).

Run: .venv/bin/python bench/moto_transactions.py [--sizes 1000 10000] [--transactions 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import uuid

import boto3
from moto import mock_aws
from moto.dynamodb import models

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

RELEASED = models.DynamoDBBackend.transact_write_items


def patched(on: bool) -> None:
    from localcloud import moto_patches

    models.DynamoDBBackend.transact_write_items = RELEASED  # type: ignore[method-assign]
    if on:
        moto_patches._transactions_keep_only_their_items()


def table(ddb: object) -> str:
    name = "bench"
    keys = [("pk", "HASH"), ("sk", "RANGE")]
    ddb.create_table(  # type: ignore[attr-defined]
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"}
                              for n in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi3pk", "gsi3sk")],
        KeySchema=[{"AttributeName": n, "KeyType": t} for n, t in keys],
        GlobalSecondaryIndexes=[{"IndexName": i, "KeySchema": [{"AttributeName": f"{i}pk", "KeyType": "HASH"},
                                                               {"AttributeName": f"{i}sk", "KeyType": "RANGE"}],
                                 "Projection": {"ProjectionType": "ALL"}} for i in ("gsi1", "gsi3")],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return name


def task(n: int) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"TASK#{n:08d}"}, "sk": {"S": "TASK"}, "gsi1pk": {"S": "OWNER#bench"},
            "gsi1sk": {"S": f"2026-11-24T00:00:00Z#{n:08d}"}, "gsi3pk": {"S": f"ACTIVE#{n % 16:02d}"},
            "gsi3sk": {"S": f"2026-11-24T00:00:00Z#{n:08d}"}, "status": {"S": "queued"}, "seq": {"N": "2"},
            "request": {"S": "x" * 600}}


def per_transaction_ms(size: int, transactions: int) -> float:
    with mock_aws():
        ddb = boto3.client("dynamodb")
        name = table(ddb)
        for start in range(0, size, 25):
            ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": task(n)}}
                                                      for n in range(start, min(size, start + 25))]})
        took = []
        for n in range(transactions):
            key = task(n % size)
            started = time.perf_counter()
            ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": name, "Key": {"pk": key["pk"], "sk": key["sk"]},
                            "UpdateExpression": "SET seq = seq + :one", "ConditionExpression": "#s = :q",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {":one": {"N": "1"}, ":q": {"S": "queued"}}}},
                {"Put": {"TableName": name, "Item": {"pk": key["pk"], "sk": {"S": f"EVENT#{uuid.uuid4().hex}"}},
                         "ConditionExpression": "attribute_not_exists(pk)"}}])
            took.append(time.perf_counter() - started)
        return statistics.median(took) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--transactions", type=int, default=100)
    args = parser.parse_args()
    print(f"TransactWriteItems (an update and an event put), median of {args.transactions}; "
          f"{platform.python_implementation()} {platform.python_version()}")
    print(f"{'items in table':>15} {'moto as released':>18} {'patched':>10}")
    for size in args.sizes:
        patched(False)
        released = per_transaction_ms(size, max(10, args.transactions // 10))
        patched(True)
        mine = per_transaction_ms(size, args.transactions)
        print(f"{size:>15,} {released:>15.1f} ms {mine:>7.1f} ms")


if __name__ == "__main__":
    main()
