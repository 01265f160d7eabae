"""S3 access for task outputs."""

from __future__ import annotations

from spoonfeeder.data.aws import client


def output_key(owner: str, task_id: str, name: str) -> str:
    return f"outputs/{owner}/{task_id}/{name}"


def put_text(bucket: str, key: str, text: str) -> None:
    client("s3").put_object(Bucket=bucket, Key=key, Body=text.encode(), ContentType="text/plain; charset=utf-8")

