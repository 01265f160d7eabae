"""The local S3 reads bucket policies as AWS does: the template's TLS-only statement does not refuse the
(TLS-standing) calls of the platform, while a statement that does apply still refuses."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError


def test_objects_can_be_written_and_read_under_the_tls_only_policy(stack: Any) -> None:
    s3, bucket = boto3.client("s3"), stack.resources["Bucket"]
    assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.put_object(Bucket=bucket, Key="outputs/policy-check/a.txt", Body=b"kept")
    assert s3.get_object(Bucket=bucket, Key="outputs/policy-check/a.txt")["Body"].read() == b"kept"


def test_a_statement_that_applies_still_denies(stack: Any) -> None:
    s3, bucket = boto3.client("s3"), stack.resources["Bucket"]
    original = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    policy = json.loads(original)
    policy["Statement"].append({"Sid": "NoSecrets", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                                "Resource": f"arn:aws:s3:::{bucket}/secrets/*"})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    try:
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket=bucket, Key="secrets/x.txt", Body=b"no")
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        s3.put_object(Bucket=bucket, Key="outputs/policy-check/b.txt", Body=b"yes")
    finally:
        s3.put_bucket_policy(Bucket=bucket, Policy=original)
