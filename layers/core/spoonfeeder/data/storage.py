"""S3 access for what is too large for a table item: request snapshots and task outputs.

Keys: `requests/{owner}/{task_id}.json` (the request, once per task) and `outputs/{owner}/{task}/…` (results).
"""

from __future__ import annotations

import json
from typing import IO, Any

from spoonfeeder.data.aws import client


def output_key(owner: str, task_id: str, name: str) -> str:
    return f"outputs/{owner}/{task_id}/{name}"


def request_key(owner: str, task_id: str) -> str:
    return f"requests/{owner}/{task_id}.json"


def put_bytes(bucket: str, key: str, body: bytes, content_type: str) -> None:
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def put_stream(bucket: str, key: str, stream: IO[bytes], content_type: str) -> None:
    """Upload from a file object in parts (a multipart upload past 8 MB): never the whole file in memory."""
    client("s3").upload_fileobj(stream, bucket, key, ExtraArgs={"ContentType": content_type})


def open_object(bucket: str, key: str) -> IO[bytes]:
    """An object's body as a stream, read as it is consumed."""
    return client("s3").get_object(Bucket=bucket, Key=key)["Body"]  # type: ignore[no-any-return]


def put_text(bucket: str, key: str, text: str) -> None:
    put_bytes(bucket, key, text.encode(), "text/plain; charset=utf-8")


def put_json_bytes(bucket: str, key: str, body: bytes) -> None:
    put_bytes(bucket, key, body, "application/json")


def download_url(bucket: str, key: str, *, content_type: str, filename: str, expires_in: int) -> str:
    """A presigned GET of one object, valid `expires_in` seconds: the client downloads from S3 directly, with the
    type and file name given here (S3 answers them as Content-Type and Content-Disposition)."""
    return str(client("s3").generate_presigned_url("get_object", ExpiresIn=expires_in, Params={
        "Bucket": bucket, "Key": key, "ResponseContentType": content_type,
        "ResponseContentDisposition": f'attachment; filename="{filename}"'}))


def get_json(bucket: str, key: str) -> Any:
    return json.loads(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def delete(bucket: str, key: str) -> None:
    client("s3").delete_object(Bucket=bucket, Key=key)


def delete_under(bucket: str, prefix: str) -> int:
    """Delete every object whose key starts with `prefix`; returns how many. One DeleteObject each, not a
    DeleteObjects batch: a task has a handful of outputs, and each delete is then the grant it is checked as."""
    s3 = client("s3")
    deleted = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
            deleted += 1
    return deleted


def get_text(bucket: str, key: str) -> str:
    return str(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8"))
