"""Create every resource of the SAM template in moto and describe what was made.

moto's CloudFormation makes most resources itself; Cognito, API Gateway v2 and Secrets Manager it skips,
so those are made here (the pool and client through cognito-idp, the APIs as invented ids served by the
local gateway, the secret through its API) and every reference to them is replaced by literals before
``create_stack``. Event source mappings are kept out of moto altogether (see mappings.py), and so are
the targets of schedule rules (see schedules.py).
"""

from __future__ import annotations

import functools
import io
import json
import logging
import secrets
import string
import threading
import time
import uuid
import zipfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .apis import HttpRoute, extract_apis
from .fixups import Fixups, collect
from .mappings import MAPPING_TYPE, EventSource, event_sources
from .moto_patches import SERVICE_USER
from .schedules import Schedule, is_schedule_rule, moto_rule, schedules
from .template import DUMMY_BUCKET, Resolver, SamTemplate, load_sam_template, substitute

__all__ = ["EventSource", "FunctionSpec", "HttpRoute", "RoleCredentials", "Schedule", "Stack", "aws_client",
           "create_admin", "create_stack"]

log = logging.getLogger(__name__)
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# moto's CloudFormation skips these (Secrets Manager silently): the local cloud makes them itself.
_LOCAL_TYPES = ("AWS::Cognito::", "AWS::ApiGatewayV2::", "AWS::SecretsManager::Secret")
_SESSION_LOCK = threading.Lock()
# Credentials for each moto endpoint that has an admin user (create_admin); others get FAKE_CREDENTIALS.
_ENDPOINT_CREDENTIALS: dict[str, dict[str, str]] = {}


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # physical function name
    handler: str  # "module.function"
    code_dir: Path
    layer_dirs: list[Path]
    env: dict[str, str]
    timeout: int  # seconds
    memory: int  # MB
    arn: str = ""
    role: str = ""  # the execution role's ARN


@dataclass
class Stack:
    resources: dict[str, str]  # logical id -> physical id (name, URL, ARN: what Ref gives)
    functions: dict[str, FunctionSpec]
    event_sources: list[EventSource]
    http_routes: list[HttpRoute]
    http_api_id: str | None
    ws_api_id: str | None
    ws_stage: str | None
    ws_function: str | None
    jwt_issuer: str | None
    jwt_audience: list[str]
    user_pool_id: str | None
    user_pool_client_id: str | None
    throttle: tuple[float, int] | None
    region: str
    account_id: str
    stack_name: str = "spoon-feeder"
    parameters: dict[str, str] = field(default_factory=dict)
    schedules: list[Schedule] = field(default_factory=list)  # schedule rules' function targets


@functools.cache
def _session(region: str) -> boto3.session.Session:
    # One session per region: its loader caches the service models, which makes later clients cheap.
    return boto3.session.Session(region_name=region, **FAKE_CREDENTIALS)


def aws_client(service: str, endpoint_url: str, region: str,
               credentials: Mapping[str, str] | None = None) -> Any:
    """A client for moto at ``endpoint_url`` (never with the caller's real credentials): the given ones, else
    the endpoint's admin user once ``create_admin`` made it, else fake ones (fine while IAM is not enforced)."""
    credentials = credentials or _ENDPOINT_CREDENTIALS.get(endpoint_url) or {}
    with _SESSION_LOCK:  # creating clients from one session is not thread-safe
        return _session(region).client(service, endpoint_url=endpoint_url, **credentials,
                                       config=Config(retries={"max_attempts": 2, "mode": "standard"}))


def create_admin(endpoint_url: str, region: str) -> dict[str, str]:
    """Make the IAM user the local cloud itself acts as (all actions on all resources, and the AWS services'
    part in roles' trust policies) and use it for every later ``aws_client`` of this endpoint. Call it before
    IAM is enforced. Returns its keys (``aws_access_key_id``, ``aws_secret_access_key``)."""
    iam = aws_client("iam", endpoint_url, region)
    iam.create_user(UserName=SERVICE_USER)
    iam.put_user_policy(UserName=SERVICE_USER, PolicyName="AdministratorAccess", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=SERVICE_USER)["AccessKey"]
    credentials = {"aws_access_key_id": str(key["AccessKeyId"]),
                   "aws_secret_access_key": str(key["SecretAccessKey"])}
    _ENDPOINT_CREDENTIALS[endpoint_url] = credentials
    return dict(credentials)


class RoleCredentials:
    """A function's credentials: STS AssumeRole on its execution role, as Lambda's service does, renewed
    when less than ``RENEW_BEFORE`` seconds remain. ``env()`` gives them as a process's environment."""

    DURATION = 3600  # an hour: AssumeRole's default and the most a role allows unless it says otherwise
    RENEW_BEFORE = 300

    def __init__(self, endpoint_url: str, region: str, role_arn: str, session_name: str) -> None:
        self.endpoint_url, self.region = endpoint_url, region
        self.role_arn, self.session_name = role_arn, session_name[:64]
        self._lock = threading.Lock()
        self._env: dict[str, str] = {}
        self._expires = 0.0

    def env(self) -> dict[str, str]:
        with self._lock:
            if time.time() > self._expires - self.RENEW_BEFORE:
                sts = aws_client("sts", self.endpoint_url, self.region)
                got = sts.assume_role(RoleArn=self.role_arn, RoleSessionName=self.session_name,
                                      DurationSeconds=self.DURATION)["Credentials"]
                self._env = {"AWS_ACCESS_KEY_ID": got["AccessKeyId"],
                             "AWS_SECRET_ACCESS_KEY": got["SecretAccessKey"],
                             "AWS_SESSION_TOKEN": got["SessionToken"]}
                self._expires = got["Expiration"].timestamp()
            return dict(self._env)


def _random_id(length: int) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(length))


def _coerce(value: Any, shape: Any) -> Any:
    """Template values arrive as strings (parameters) or YAML scalars; the API model wants typed ones."""
    kind = getattr(shape, "type_name", "")
    if kind in ("integer", "long") and isinstance(value, str):
        return int(value)
    if kind == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: _coerce(v, members[k]) for k, v in value.items() if k in members}
    if kind == "list" and isinstance(value, list):
        return [_coerce(v, shape.member) for v in value]
    return value


def _api_args(client: Any, operation: str, props: dict[str, Any],
              renames: Mapping[str, str]) -> dict[str, Any]:
    members = client.meta.service_model.operation_model(operation).input_shape.members
    args: dict[str, Any] = {}
    for key, value in props.items():
        name = renames.get(key, key)
        if name not in members:
            log.info("%s: property %s has no local equivalent; ignored", operation, key)
            continue
        args[name] = _coerce(value, members[name])
    return args


class _LocalResources:
    """Cognito and API Gateway v2 resources, made here instead of by moto's CloudFormation."""

    def __init__(self, tpl: SamTemplate, endpoint_url: str, region: str, account_id: str,
                 stack_name: str) -> None:
        self.tpl, self.region, self.account_id = tpl, region, account_id
        self.endpoint_url, self.stack_name = endpoint_url, stack_name
        self.cognito = aws_client("cognito-idp", endpoint_url, region)
        self.ids: dict[str, str] = {}
        self.secrets: dict[str, str] = {}
        self.partition = tpl.parameters.get("AWS::Partition", "aws")
        pseudo = {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::Partition": self.partition,
                  "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": stack_name, "AWS::NoValue": None}
        self.resolver = Resolver({**tpl.parameters, **pseudo}, tpl.transformed.get("Conditions") or {},
                                 self.ids, self.attr)

    def attr(self, logical_id: str, name: str) -> str:
        kind = self.tpl.resources[logical_id]["Type"]
        physical = self.ids[logical_id]
        host = f"{self.region}.amazonaws.com"
        table: dict[tuple[str, str], str] = {
            ("AWS::Cognito::UserPool", "Arn"):
                f"arn:{self.partition}:cognito-idp:{self.region}:{self.account_id}:userpool/{physical}",
            ("AWS::Cognito::UserPool", "ProviderName"): f"cognito-idp.{host}/{physical}",
            ("AWS::Cognito::UserPool", "ProviderURL"): f"https://cognito-idp.{host}/{physical}",
            ("AWS::Cognito::UserPool", "UserPoolId"): physical,
            ("AWS::Cognito::UserPoolClient", "ClientId"): physical,
            ("AWS::Cognito::UserPoolClient", "ClientSecret"): self.secrets.get(logical_id, ""),
            ("AWS::ApiGatewayV2::Api", "ApiId"): physical,
            ("AWS::ApiGatewayV2::Api", "ApiEndpoint"): (
                f"{'wss' if self._is_ws(logical_id) else 'https'}://{physical}.execute-api.{host}"),
        }
        if (kind, name) not in table:
            raise KeyError(f"{logical_id}.{name}")
        return table[(kind, name)]

    def _is_ws(self, logical_id: str) -> bool:
        return bool(self.tpl.resources[logical_id].get("Properties", {}).get("ProtocolType") == "WEBSOCKET")

    def create(self) -> None:
        local = {lid: r for lid, r in self.tpl.resources.items() if r["Type"].startswith(_LOCAL_TYPES)}
        order = ["AWS::Cognito::UserPool", "AWS::Cognito::UserPoolClient", "AWS::Cognito::UserPoolGroup",
                 "AWS::ApiGatewayV2::Api"]
        for logical_id, resource in sorted(local.items(), key=lambda item: (
                order.index(item[1]["Type"]) if item[1]["Type"] in order else len(order))):
            self.ids[logical_id] = self._make(logical_id, resource["Type"], resource.get("Properties") or {})

    def _make(self, logical_id: str, kind: str, props: dict[str, Any]) -> str:
        if kind == "AWS::Cognito::UserPool":
            args = _api_args(self.cognito, "CreateUserPool", self.resolver.resolve(props),
                             {"UserPoolName": "PoolName"})
            args.setdefault("PoolName", logical_id)
            return str(self.cognito.create_user_pool(**args)["UserPool"]["Id"])
        if kind == "AWS::Cognito::UserPoolClient":
            args = _api_args(self.cognito, "CreateUserPoolClient", self.resolver.resolve(props), {})
            args.setdefault("ClientName", logical_id)
            client = self.cognito.create_user_pool_client(**args)["UserPoolClient"]
            self.secrets[logical_id] = str(client.get("ClientSecret", ""))
            return str(client["ClientId"])
        if kind == "AWS::Cognito::UserPoolGroup":
            args = _api_args(self.cognito, "CreateGroup", self.resolver.resolve(props), {})
            return str(self.cognito.create_group(**args)["Group"]["GroupName"])
        if kind == "AWS::ApiGatewayV2::Api":
            return _random_id(10)
        if kind == "AWS::SecretsManager::Secret":
            # Its KMS key is made later by moto's CloudFormation; locally the secret uses the default key.
            resolved = self.resolver.resolve({k: v for k, v in props.items() if k != "KmsKeyId"})
            secrets = aws_client("secretsmanager", self.endpoint_url, self.region)
            made = secrets.create_secret(Name=resolved.get("Name") or f"{self.stack_name}-{logical_id}",
                                         Description=str(resolved.get("Description") or ""),
                                         SecretString=resolved.get("SecretString") or "{}")
            return str(made["ARN"])
        if kind == "AWS::ApiGatewayV2::Stage":
            return str(self.resolver.resolve(props.get("StageName", "$default")))
        if kind.startswith("AWS::ApiGatewayV2::"):
            return _random_id(7)
        log.warning("%s (%s) is not supported locally; references to it get a made-up id", logical_id, kind)
        return _random_id(10)


@dataclass
class _MotoTemplate:
    body: dict[str, Any]
    fixups: Fixups
    mappings: dict[str, Any]  # event source mapping logical id -> deferred properties
    schedules: dict[str, Any] = field(default_factory=dict)  # schedule rule logical id -> deferred values


def _moto_template(tpl: SamTemplate, local: _LocalResources) -> _MotoTemplate:
    """The transformed template minus what moto must not make (see mappings.py) or cannot make."""
    body = {k: v for k, v in tpl.transformed.items() if k not in ("Resources", "Outputs")}
    dropped = set(local.ids) | {k for k, r in tpl.resources.items() if r["Type"] == MAPPING_TYPE}
    resources: dict[str, Any] = {}
    mappings: dict[str, Any] = {}
    schedule_rules: dict[str, Any] = {}
    for logical_id, resource in tpl.resources.items():
        if logical_id in local.ids:
            continue
        resource = substitute(resource, local.ids, local.attr)
        if resource["Type"] == MAPPING_TYPE:
            mappings[logical_id] = resource.get("Properties") or {}
            continue
        if is_schedule_rule(resource):
            resource, schedule_rules[logical_id] = moto_rule(logical_id, resource)
        depends = resource.get("DependsOn")
        if isinstance(depends, list):
            resource["DependsOn"] = [d for d in depends if d not in dropped]
        elif depends in dropped:
            del resource["DependsOn"]
        resources[logical_id] = resource
    body["Resources"] = resources
    fixups = collect(resources)
    mappings = {logical_id: fixups.defer(props) for logical_id, props in mappings.items()}
    schedule_rules = {logical_id: fixups.defer(values) for logical_id, values in schedule_rules.items()}
    outputs = substitute(tpl.transformed.get("Outputs") or {}, local.ids, local.attr)
    body["Outputs"] = {**outputs, **fixups.outputs}
    return _MotoTemplate(body, fixups, mappings, schedule_rules)


def _upload_dummy_code(tpl: SamTemplate, endpoint_url: str, region: str) -> None:
    """moto's Lambda reads each function's and layer's zip from S3; the real code runs from local dirs."""
    s3 = aws_client("s3", endpoint_url, region)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "code runs from the local CodeUri\n")
    create: dict[str, Any] = {"Bucket": DUMMY_BUCKET}
    if region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**create)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
    for logical_id in {**tpl.code_dirs, **tpl.layer_sources}:
        s3.put_object(Bucket=DUMMY_BUCKET, Key=f"{logical_id}.zip", Body=buffer.getvalue())


def _wait(cfn: Any, stack_name: str) -> dict[str, str]:
    """Wait for CREATE_COMPLETE; returns the stack's outputs."""
    deadline = time.monotonic() + 120
    while True:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = str(stack["StackStatus"])
        if status == "CREATE_COMPLETE":
            return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
        if not status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
            events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
            reasons = [e.get("ResourceStatusReason") for e in events if e.get("ResourceStatusReason")]
            raise RuntimeError(f"stack {stack_name}: {status}: {reasons[:5]}")
        time.sleep(0.05)


def _warm(service: str, endpoint_url: str, region: str) -> None:
    client = aws_client(service, endpoint_url, region)
    if service == "cloudformation":
        client.list_stacks()
    else:
        client.list_user_pools(MaxResults=1)


def create_stack(template_path: str | Path, endpoint_url: str, region: str,
                 parameters: Mapping[str, str] | None = None, *, stack_name: str = "spoon-feeder") -> Stack:
    """Create the template's resources in the moto server at ``endpoint_url`` and describe them."""
    parameters = dict(parameters or {})
    account_id = str(aws_client("sts", endpoint_url, region).get_caller_identity()["Account"])
    with ThreadPoolExecutor(2) as pool:
        # moto's server imports a service's backend on first use (CloudFormation's pulls in most of them,
        # ~2 s): start that now so it overlaps with transforming the template here.
        warming = [pool.submit(_warm, service, endpoint_url, region)
                   for service in ("cloudformation", "cognito-idp")]
        tpl = load_sam_template(Path(template_path), region, account_id, parameters)
        for future in warming:
            future.result()
    local = _LocalResources(tpl, endpoint_url, region, account_id, stack_name)
    local.create()
    apis = extract_apis(tpl.resources, local.resolver)

    _upload_dummy_code(tpl, endpoint_url, region)
    cfn = aws_client("cloudformation", endpoint_url, region)
    declared = tpl.transformed.get("Parameters") or {}
    moto_template = _moto_template(tpl, local)
    cfn.create_stack(
        StackName=stack_name, TemplateBody=json.dumps(moto_template.body),
        Parameters=[{"ParameterKey": k, "ParameterValue": v}
                    for k, v in tpl.parameters.items() if k in declared],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"])
    outputs = _wait(cfn, stack_name)
    physical: dict[str, str] = dict(local.ids)
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            if summary.get("PhysicalResourceId") and summary["LogicalResourceId"] not in local.ids:
                physical[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]

    fixups = moto_template.fixups
    fixups.apply(outputs, physical, lambda service: aws_client(service, endpoint_url, region))
    functions = _read_functions(tpl, physical, endpoint_url, region)
    function_names = {spec.name: logical_id for logical_id, spec in functions.items()}
    sources = event_sources(
        {k: tpl.resources[k].get("Properties") or {} for k in moto_template.mappings},
        fixups.resolve(moto_template.mappings, outputs), function_names,
        aws_client("sqs", endpoint_url, region), account_id)
    timers = schedules(fixups.resolve(moto_template.schedules, outputs), physical, function_names)
    physical.update({logical_id: str(uuid.uuid4()) for logical_id in moto_template.mappings})
    return Stack(
        resources=physical, functions=functions, event_sources=sources,
        http_routes=apis.http_routes or [],
        http_api_id=local.ids.get(apis.http_api or ""), ws_api_id=local.ids.get(apis.ws_api or ""),
        ws_stage=apis.ws_stage, ws_function=apis.ws_function,
        jwt_issuer=apis.jwt_issuer, jwt_audience=apis.jwt_audience or [],
        user_pool_id=next((local.ids[k] for k, r in tpl.resources.items()
                           if r["Type"] == "AWS::Cognito::UserPool"), None),
        user_pool_client_id=next((local.ids[k] for k, r in tpl.resources.items()
                                  if r["Type"] == "AWS::Cognito::UserPoolClient"), None),
        throttle=apis.throttle, region=region, account_id=account_id, stack_name=stack_name,
        parameters=dict(tpl.parameters), schedules=timers)


def _read_functions(tpl: SamTemplate, physical: Mapping[str, str], endpoint_url: str,
                    region: str) -> dict[str, FunctionSpec]:
    lam = aws_client("lambda", endpoint_url, region)
    functions: dict[str, FunctionSpec] = {}
    for logical_id, resource in tpl.resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        config = lam.get_function_configuration(FunctionName=physical[logical_id])
        layers = [ref["Ref"] for ref in resource.get("Properties", {}).get("Layers") or []
                  if isinstance(ref, dict) and ref.get("Ref") in tpl.layer_dirs]
        if logical_id not in tpl.code_dirs:
            log.warning("%s has no local CodeUri; it cannot run here", logical_id)
        variables = (config.get("Environment") or {}).get("Variables") or {}
        functions[logical_id] = FunctionSpec(
            name=config["FunctionName"], handler=config["Handler"],
            code_dir=tpl.code_dirs.get(logical_id, Path(".")),
            layer_dirs=[tpl.layer_dirs[layer] for layer in layers],
            env={k: str(v) for k, v in variables.items()},
            timeout=int(config.get("Timeout") or 3), memory=int(config.get("MemorySize") or 128),
            arn=str(config.get("FunctionArn", "")), role=str(config.get("Role", "")))
    return functions
