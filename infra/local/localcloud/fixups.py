"""Properties moto's CloudFormation accepts but does not apply, applied afterwards through the APIs.

moto 5.2 makes an ``AWS::S3::Bucket`` with only its encryption (without the Bucket Key) and tags, an
``AWS::DynamoDB::Table`` without its TTL and point-in-time recovery, and skips ``AWS::SQS::QueuePolicy``,
``AWS::S3::BucketPolicy`` and ``AWS::CloudWatch::Alarm`` (alarms are made here, named by logical id;
nothing evaluates them locally). Their values can hold
intrinsics only CloudFormation resolves, so each intrinsic is handed to moto as a stack Output
(``defer``) and read back after creation (``resolve``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Fixups", "collect"]

log = logging.getLogger(__name__)
_PREFIX = "LocalCloudValue"
_BUCKET = ("VersioningConfiguration", "PublicAccessBlockConfiguration", "NotificationConfiguration",
           "LifecycleConfiguration", "BucketEncryption")
_TABLE = ("TimeToLiveSpecification", "PointInTimeRecoverySpecification")
_ALARM = ("AlarmName", "AlarmDescription", "Namespace", "MetricName", "Dimensions", "Statistic", "Period",
          "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
          "AlarmActions", "OKActions")
_WANTED = {"AWS::S3::Bucket": _BUCKET, "AWS::DynamoDB::Table": _TABLE,
           "AWS::SQS::QueuePolicy": ("Queues", "PolicyDocument"),
           "AWS::S3::BucketPolicy": ("Bucket", "PolicyDocument"), "AWS::CloudWatch::Alarm": _ALARM}


@dataclass
class _Placeholder:
    output: str


@dataclass
class Fixups:
    todo: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (logical id, type, props)
    outputs: dict[str, Any] = field(default_factory=dict)  # output name -> intrinsic

    def defer(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.defer(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1 and next(iter(node)).startswith(("Ref", "Fn::")):
            name = f"{_PREFIX}{len(self.outputs)}"
            self.outputs[name] = {"Value": node}
            return _Placeholder(name)
        return {key: self.defer(value) for key, value in node.items()}

    def resolve(self, node: Any, outputs: Mapping[str, str]) -> Any:
        """``node`` (as returned by ``defer``) with the stack's output values in place."""
        if isinstance(node, _Placeholder):
            return outputs[node.output]
        if isinstance(node, list):
            return [self.resolve(item, outputs) for item in node]
        if isinstance(node, dict):
            return {key: self.resolve(value, outputs) for key, value in node.items()}
        return node

    def apply(self, outputs: Mapping[str, str], physical: Mapping[str, str],
              client: Callable[[str], Any]) -> None:
        for logical_id, kind, props in self.todo:
            try:
                # Resources moto skips have no physical id: they are made under their logical id.
                _APPLY[kind](physical.get(logical_id) or logical_id, self.resolve(props, outputs), client)
            except Exception:
                log.exception("could not apply %s of %s locally", sorted(props), logical_id)


def collect(resources: dict[str, dict[str, Any]]) -> Fixups:
    fixups = Fixups()
    for logical_id, resource in resources.items():
        wanted = _WANTED.get(resource.get("Type", ""))
        props = {k: v for k, v in (resource.get("Properties") or {}).items() if wanted and k in wanted}
        if props:
            fixups.todo.append((logical_id, resource["Type"], fixups.defer(props)))
    return fixups


def _filter(cfn: dict[str, Any] | None) -> dict[str, Any]:
    rules = ((cfn or {}).get("S3Key") or {}).get("Rules") or []
    return {"Filter": {"Key": {"FilterRules": rules}}} if rules else {}


def _bucket(name: str, props: dict[str, Any], client: Callable[[str], Any]) -> None:
    s3 = client("s3")
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={
            "Status": props["VersioningConfiguration"].get("Status", "Enabled")})
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            k: str(v).lower() == "true" for k, v in props["PublicAccessBlockConfiguration"].items()})
    if "NotificationConfiguration" in props:
        cfn = props["NotificationConfiguration"]
        config: dict[str, Any] = {}
        for section, target, arn_key in (("QueueConfigurations", "Queue", "QueueArn"),
                                         ("TopicConfigurations", "Topic", "TopicArn"),
                                         ("LambdaConfigurations", "Function", "LambdaFunctionArn")):
            entries = [{arn_key: c[target], "Events": [c["Event"]], **_filter(c.get("Filter"))}
                       for c in cfn.get(section) or []]
            if entries:
                config[section.replace("LambdaConfigurations", "LambdaFunctionConfigurations")] = entries
        if cfn.get("LambdaConfigurations"):
            log.warning("bucket %s: S3 -> Lambda notifications are stored, but nothing invokes them locally",
                        name)
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)
    if "LifecycleConfiguration" in props:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={
            "Rules": [_lifecycle_rule(rule) for rule in props["LifecycleConfiguration"].get("Rules") or []]})
    if "BucketEncryption" in props:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
             "BucketKeyEnabled": str(rule.get("BucketKeyEnabled")).lower() == "true"}
            for rule in props["BucketEncryption"].get("ServerSideEncryptionConfiguration") or []]})


def _lifecycle_rule(cfn: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the API's shape (only the actions the template uses)."""
    rule: dict[str, Any] = {"ID": cfn.get("Id", ""), "Status": cfn.get("Status", "Enabled"),
                            "Filter": {"Prefix": cfn.get("Prefix", "")}}
    if "NoncurrentVersionExpiration" in cfn:
        rule["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(cfn["NoncurrentVersionExpiration"]["NoncurrentDays"])}
    if "AbortIncompleteMultipartUpload" in cfn:
        rule["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(cfn["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    if "ExpirationInDays" in cfn:
        rule["Expiration"] = {"Days": int(cfn["ExpirationInDays"])}
    elif str(cfn.get("ExpiredObjectDeleteMarker")).lower() == "true":
        rule["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    return rule


def _table(name: str, props: dict[str, Any], client: Callable[[str], Any]) -> None:
    dynamodb = client("dynamodb")
    ttl = props.get("TimeToLiveSpecification")
    if ttl and str(ttl.get("Enabled")).lower() == "true":
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": ttl["AttributeName"]})
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr and str(pitr.get("PointInTimeRecoveryEnabled")).lower() == "true":
        dynamodb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True})


def _queue_policy(_: str, props: dict[str, Any], client: Callable[[str], Any]) -> None:
    sqs = client("sqs")
    for queue_url in props.get("Queues") or []:
        policy = json.dumps(props["PolicyDocument"])
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": policy})


def _bucket_policy(_: str, props: dict[str, Any], client: Callable[[str], Any]) -> None:
    # moto's S3 evaluates it on object calls (moto_s3.py makes it read conditions as AWS does).
    client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))


def _alarm(logical_id: str, props: dict[str, Any], client: Callable[[str], Any]) -> None:
    numbers = {"Period": int, "EvaluationPeriods": int, "DatapointsToAlarm": int, "Threshold": float}
    args = {key: numbers[key](value) if key in numbers else value for key, value in props.items()}
    args.setdefault("AlarmName", logical_id)
    client("cloudwatch").put_metric_alarm(**args)


_APPLY: dict[str, Callable[[str, dict[str, Any], Callable[[str], Any]], None]] = {
    "AWS::S3::Bucket": _bucket, "AWS::DynamoDB::Table": _table, "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::S3::BucketPolicy": _bucket_policy, "AWS::CloudWatch::Alarm": _alarm,
}
