"""``python -m localcloud.agent_credentials FILE``: a `credential_process` for the local GPU agents.

It prints credentials of the agent's role (STS AssumeRole, made with the keys FILE holds) in the format the
AWS SDKs read from a credential process, which they call again before those credentials expire. An agent on
a real GPU host gets its role the same way, e.g. IAM Roles Anywhere's signing helper as its credential process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3


def main(argv: list[str]) -> int:
    source = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    sts = boto3.client("sts", endpoint_url=source["endpoint_url"], region_name=source["region"],
                       aws_access_key_id=source["aws_access_key_id"],
                       aws_secret_access_key=source["aws_secret_access_key"])
    got = sts.assume_role(RoleArn=source["role_arn"], RoleSessionName=source["session_name"],
                          DurationSeconds=3600)["Credentials"]
    print(json.dumps({"Version": 1, "AccessKeyId": got["AccessKeyId"], "SecretAccessKey": got["SecretAccessKey"],
                      "SessionToken": got["SessionToken"], "Expiration": got["Expiration"].isoformat()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
