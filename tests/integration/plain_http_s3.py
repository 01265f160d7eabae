"""moto's S3 evaluates the bucket policy, and its endpoint here is plain HTTP: the template's TLS-only
statement (Deny when aws:SecureTransport is false) would refuse every object call. Tests that read or write
objects drop that statement for their duration; on AWS every SDK call uses TLS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest


@pytest.fixture
def plain_http_s3(stack: Any) -> Iterator[None]:
    s3, bucket = boto3.client("s3"), stack.resources["Bucket"]
    try:
        policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except s3.exceptions.ClientError:
        yield
        return
    kept = [s for s in json.loads(policy)["Statement"]
            if "aws:SecureTransport" not in json.dumps(s.get("Condition", {}))]
    if kept:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": kept}))
    else:
        s3.delete_bucket_policy(Bucket=bucket)
    try:
        yield
    finally:
        s3.put_bucket_policy(Bucket=bucket, Policy=policy)
