"""Fixes to moto, applied inside the local moto server process only.

DynamoDB Streams:

- moto deep-copies a table on every TransactWriteItems and, if the transaction is cancelled, puts the copy
  in the table's place — with a copy of its stream shard, so every reader of the stream (the local cloud's
  stream runner) was left reading a shard nobody writes to any more. The shard is now shared by the table
  and its copies: a cancelled transaction keeps the stream the readers have.
- Sharing also ends the cost of copying the stream on each write, which made every write of a long
  `make dev` session slower than the last.
- moto keeps stream records for ever; real streams keep them 24 hours. A shard keeps its newest
  STREAM_RECORDS_KEPT records (the runner reads every ~100 ms, far behind that), and a shard iterator is
  forgotten once used, as AWS lets it expire.

- moto copied the whole table once per item of a TransactWriteItems (each item naming it) before applying any,
  so every item added to a transaction cost one more copy of the table. A transaction now copies each table it
  names once: all copies were taken before the first write, so the one copy is the same rollback state.

A cancelled transaction may leave stream records of the writes it made before the failing condition (moto
applies them in order), so writers put the condition most likely to fail first.

IAM enforcement (on once the local cloud has made its stack, see moto_process.MotoServer.enforce_iam):

- moto checks DynamoDB, KMS and Secrets Manager requests against resource ``*``, so a grant scoped to a
  table, key or secret denied everything. Here each request is checked against the ARNs AWS checks: the
  table (``table/T/index/I`` for a Query or Scan of an index), the key (aliases resolved) or the secret.
- A request that touches several tables or items is checked as AWS checks it: TransactWriteItems as the
  PutItem/UpdateItem/DeleteItem/ConditionCheckItem of each contained item on its table, TransactGetItems as
  GetItem on each table, BatchWriteItem and BatchGetItem as themselves on each table named.
- Every denial is written to the server's stderr (the local cloud's moto.log) as ``IAM DENIED <caller>
  <action> on <resource>``.
- JSON-protocol services (DynamoDB, KMS, Secrets Manager, SQS) answer a denial in JSON as AWS does
  (``AccessDeniedException``; SQS ``AccessDenied``), naming the action and resource, and so are unknown
  keys and bad signatures (``UnrecognizedClientException``, ``InvalidSignatureException``); moto sent XML,
  which boto3 read as error code "403".
- A role's trust policy that names a service (``{"Service": "lambda.amazonaws.com"}``) made moto's
  AssumeRole fail with a 500. On AWS only that service can assume such a role; here the local cloud plays
  the services, so the IAM user SERVICE_USER (made by the local cloud) may, and any other caller is denied.
- A trust policy naming an account (``{"AWS": "arn:aws:iam::123456789012:root"}``, as the GPU agent's role
  does) was read as that one principal, so nobody could assume the role; as on AWS it now admits every principal
  of the account (whose own policy must still allow sts:AssumeRole).
- S3 requests are checked under the IAM action AWS checks where moto used the API's name (HeadBucket,
  ListObjectsV2 -> ``s3:ListBucket``, ...).
- moto's CloudFormation stored a role's inline policies as Python objects, which its policy evaluation
  cannot read (a 500 on every call with the role's keys), and ignored the role's ``ManagedPolicyArns``
  (SAM's AWSLambdaBasicExecutionRole, AWSLambdaSQSQueueExecutionRole, ...), and kept a key's ``KeyPolicy``
  as an object, on which every DescribeKey of the key failed (500). All three are fixed; the AWS managed
  policies exist when moto loads them (MOTO_IAM_LOAD_MANAGED_POLICIES, set by MotoServer).
- Conditions in identity policies: moto counted a condition whose key the request does not carry as met
  (so ``kms:ViaService`` held for a direct KMS call), and a condition that failed denied outright, even in
  an Allow statement. Now a statement applies only when its conditions hold, read as bucket policies are
  (moto_s3.conditions_met: an absent key fails unless ``...IfExists``; calls count as over TLS).
- KMS requests carry their encryption context as condition keys (``kms:EncryptionContext:<key>``), as on
  AWS, so a grant limited to a context (users' provider keys: owner and provider) is checked locally.
- Cognito operations that AWS serves without IAM (GlobalSignOut, RevokeToken, ...: boto3 sends them unsigned)
  are all public; moto knew only some of them and answered the others 500.
- moto re-computed the signature of a request without a body (a Lambda GET, say) over its headers as if
  they were the body, so every such request failed with SignatureDoesNotMatch.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

STREAM_RECORDS_KEPT = 1000
#: The IAM user the local cloud acts as: admin rights, and the AWS services' part in role trust policies.
SERVICE_USER = "localcloud-admin"


def apply() -> None:
    _streams()
    _transactions_keep_only_their_items()
    _dynamodb_one_request_at_a_time()
    _iam_resources()
    _service_principals()
    _cloudformation_roles()
    _public_operations()
    _conditions()
    from . import moto_cognito  # AWS's refusal of self sign-up

    moto_cognito.apply()
    from . import moto_s3  # bucket policies evaluated over TLS, conditions as AWS reads them

    moto_s3.apply()


def _streams() -> None:
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import ShardIterator

    add, get, read = StreamShard.add, StreamShard.get, ShardIterator.get

    def add_and_trim(self: StreamShard, old: Any, new: Any) -> None:
        add(self, old, new)
        excess = len(self.items) - STREAM_RECORDS_KEPT
        if excess > 0:
            del self.items[:excess]
            self.starting_sequence_number += excess  # sequence numbers of the kept records stay the same

    def get_within_retention(self: StreamShard, start: int, quantity: int) -> list[dict[str, Any]]:
        # An iterator older than the retained window reads from its start, like a trimmed AWS stream.
        return get(self, max(start, self.starting_sequence_number), quantity)

    def read_once(self: ShardIterator, limit: int = 1000) -> dict[str, Any]:
        result = read(self, limit)
        self.streams_backend.shard_iterators.pop(self.arn, None)
        return result

    StreamShard.__deepcopy__ = lambda self, memo: self  # type: ignore[method-assign]
    StreamShard.add = add_and_trim  # type: ignore[method-assign]
    StreamShard.get = get_within_retention  # type: ignore[method-assign]
    ShardIterator.get = read_once  # type: ignore[method-assign]


def _dynamodb_one_request_at_a_time() -> None:
    """moto's server answers requests on several threads, but its DynamoDB backend is not thread-safe: a
    transaction deep-copies a table while another thread adds an item to it ("dictionary changed size during
    iteration"), and a cancelled transaction puts its copy back over writes other requests made meanwhile.
    DynamoDB isolates each request (transactions serializably), so here each DynamoDB request runs alone; the
    backend is bound to one interpreter lock anyway, so little concurrency is lost."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    call_action = DynamoHandler.call_action

    def call_action_alone(self: Any) -> Any:
        with lock:
            return call_action(self)

    DynamoHandler.call_action = call_action_alone  # type: ignore[method-assign]


def _transactions_keep_only_their_items() -> None:
    """moto backs a transaction up by deep-copying every table it names, so each TransactWriteItems costs time in
    the size of the table (~110 ms at 10,000 items). DynamoDB forbids two operations on one item in a
    transaction, so every condition reads the state from before it: here all conditions are checked first (the
    answer, when one fails, is moto's own: TransactionCanceledException with every item's reason, in order), and
    only then are the items written, each item's old version kept to be put back, with the stream records the
    writes added taken out again, should a write still fail. The cost is the items', not the table's."""
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    writes = {"Put": "put_item", "Delete": "delete_item", "Update": "update_item"}

    def key_of(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
        if op_type != "Put":
            return dict(op["Key"])
        table = backend.get_table(op["TableName"])
        attrs = op["Item"]
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        return {name: attrs[name] for name in names}

    def check(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
        """Every item's outcome against the state before the transaction: (None, None, None) or its reason."""
        seen: set[tuple[str, str]] = set()
        outcomes: list[tuple[Any, Any, Any]] = []
        for item in transact_items:
            if len(item) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(item.items()))
            old = None
            try:
                if op_type not in {"ConditionCheck", *writes}:
                    raise ValueError("Unsupported transaction operation")
                key = key_of(backend, op_type, op)
                unique = (str(op["TableName"]), str(dict(sorted(key.items()))))
                if unique in seen:
                    raise MultipleTransactionsException()
                seen.add(unique)
                current = backend.get_item(op["TableName"], key)
                if op.get("ConditionExpression") is not None:
                    condition = get_filter_expression(op["ConditionExpression"], op.get("ExpressionAttributeNames"),
                                                      op.get("ExpressionAttributeValues"))
                    if not condition.expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            old = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=old)
                outcomes.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                raise
            except ConditionalCheckFailed as exc:
                outcomes.append(("ConditionalCheckFailed", str(exc.message), old))
            except Exception as exc:  # moto's own catch-all: the reason is the exception's name
                outcomes.append((type(exc).__name__, str(exc), old))
        return outcomes

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        outcomes = check(self, transact_items)
        if any(code is not None for code, _, _ in outcomes):
            raise TransactionCanceledException(outcomes)
        kept: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, old item or None)
        streams: dict[int, tuple[Any, int]] = {}  # table id -> (its stream shard, records before)
        try:
            for item in transact_items:
                op_type, op = next(iter(item.items()))
                if op_type == "ConditionCheck":
                    continue
                table = self.get_table(op["TableName"])
                if table.stream_shard is not None and id(table) not in streams:
                    streams[id(table)] = (table.stream_shard, len(table.stream_shard.items))
                hash_key, range_key = self.get_keys_value(table, key_of(self, op_type, op))
                kept.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
                names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    self.put_item(op["TableName"], op["Item"], expression_attribute_names=names,
                                  expression_attribute_values=values)
                elif op_type == "Delete":
                    self.delete_item(op["TableName"], op["Key"], expression_attribute_names=names,
                                     expression_attribute_values=values)
                else:
                    self.update_item(op["TableName"], op["Key"], update_expression=op["UpdateExpression"],
                                     expression_attribute_names=names, expression_attribute_values=values)
        except BaseException:
            for table, hash_key, range_key, old in reversed(kept):
                rows = table.items[hash_key] if table.has_range_key else table.items
                slot = range_key if table.has_range_key else hash_key
                if old is None:
                    rows.pop(slot, None)
                else:
                    rows[slot] = old
            for shard, before in streams.values():
                del shard.items[before:]  # a rolled-back write was never seen
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


# ------------------------------------------------------------------------------------------------ IAM
Check = tuple[str, str]  # (action without the service prefix, resource ARN)

# S3 API names moto checks -> the IAM actions AWS checks for them.
_S3_ACTIONS = {"HeadBucket": "ListBucket", "ListObjects": "ListBucket", "ListObjectsV2": "ListBucket",
               "ListObjectVersions": "ListBucketVersions", "ListMultipartUploads": "ListBucketMultipartUploads",
               "GetBucketEncryption": "GetEncryptionConfiguration", "PutBucketEncryption": "PutEncryptionConfiguration",
               "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
               "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
               "GetBucketNotificationConfiguration": "GetBucketNotification",
               "PutBucketNotificationConfiguration": "PutBucketNotification",
               "GetBucketCors": "GetBucketCORS", "PutBucketCors": "PutBucketCORS", "DeleteObjects": "DeleteObject",
               "GetBucketAccelerateConfiguration": "GetAccelerateConfiguration",
               "GetBucketInventoryConfiguration": "GetInventoryConfiguration",
               "ListBucketInventoryConfigurations": "GetInventoryConfiguration"}
# SQS's batch calls are authorised as their single-message actions (AWS has no sqs:SendMessageBatch permission).
_SQS_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
_TRANSACT_WRITE_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                           "ConditionCheck": "ConditionCheckItem"}


def _params(response: Any) -> dict[str, Any]:
    body = response.body
    if isinstance(body, dict):  # moto's DynamoDB handler has parsed it already
        return body
    try:
        parsed = json.loads(body or "{}")
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _dynamodb_checks(response: Any, action: str) -> Iterator[Check]:
    params = _params(response)
    prefix = f"arn:aws:dynamodb:{response.region}:{response.current_account}:table/"

    def table(name: Any) -> str:
        name = str(name)
        return name if name.startswith("arn:") else prefix + name

    if action == "TransactWriteItems":
        for item in params.get("TransactItems") or []:
            for kind, body in item.items():
                if kind in _TRANSACT_WRITE_ACTIONS and isinstance(body, dict):
                    yield _TRANSACT_WRITE_ACTIONS[kind], table(body.get("TableName"))
    elif action == "TransactGetItems":
        for item in params.get("TransactItems") or []:
            body = item.get("Get")
            if isinstance(body, dict):
                yield "GetItem", table(body.get("TableName"))
    elif action in ("BatchWriteItem", "BatchGetItem"):
        for name in params.get("RequestItems") or {}:
            yield action, table(name)
    elif params.get("TableName"):
        arn = table(params["TableName"])
        if params.get("IndexName") and action in ("Query", "Scan"):
            arn = f"{arn}/index/{params['IndexName']}"
        yield action, arn
    elif params.get("ResourceArn"):  # tags, resource policies, backups
        yield action, str(params["ResourceArn"])
    else:
        yield action, "*"


def _kms_checks(response: Any, action: str) -> Iterator[Check]:
    key_id = _params(response).get("KeyId") or _params(response).get("TargetKeyId")
    if not key_id:
        yield action, "*"
        return
    backend = response.kms_backend
    try:
        raw = backend.any_id_to_key_id(str(key_id))
        yield action, backend.keys[raw].arn
    except Exception:  # an unknown key: moto answers NotFound after the check, as AWS does
        yield action, "*"


#: Condition keys of the request being authorized (this thread's), beyond what moto gives a statement.
_request_conditions = threading.local()


def _kms_conditions(response: Any) -> dict[str, str]:
    context = _params(response).get("EncryptionContext")
    if not isinstance(context, dict):
        return {}
    return {f"kms:EncryptionContext:{key}": str(value) for key, value in context.items()}


def _secrets_checks(response: Any, action: str) -> Iterator[Check]:
    secret_id = _params(response).get("SecretId")
    secret = response.backend.secrets.get(str(secret_id)) if secret_id else None
    yield action, secret.arn if secret is not None else "*"


def _iam_resources() -> None:
    from botocore.awsrequest import AWSRequest
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.responses import DynamoHandler
    from moto.iam.access_control import IAMRequest, IAMRequestBase, S3IAMRequest
    from moto.kms.responses import KmsResponse
    from moto.secretsmanager.responses import SecretsManagerResponse

    permitted, denied = IAMRequestBase.check_action_permitted, IAMRequest._raise_access_denied

    def check_action_permitted(self: IAMRequestBase, resource: str) -> None:
        self.resource = resource  # for the message
        try:
            permitted(self, resource)
        except Exception:
            # In moto.log, so a missing grant shows up where the local cloud's requests are logged.
            print(f"IAM DENIED {self._access_key.arn} {self._action} on {resource}", file=sys.stderr, flush=True)
            raise

    unknown_key, bad_signature = IAMRequest._raise_invalid_access_key, IAMRequest._raise_signature_does_not_match

    def json_protocol(self: IAMRequest) -> bool:
        return str(self._headers.get("Content-Type", "")).startswith("application/x-amz-json")

    def raise_invalid_access_key(self: IAMRequest, reason: str) -> None:
        if not json_protocol(self):
            unknown_key(self, reason)
        raise JsonRESTError("InvalidClientTokenId" if self._service == "sqs" else "UnrecognizedClientException",
                            "The security token included in the request is invalid.")

    def raise_signature_does_not_match(self: IAMRequest) -> None:
        if not json_protocol(self):
            bad_signature(self)
        raise JsonRESTError("SignatureDoesNotMatch" if self._service == "sqs" else "InvalidSignatureException",
                            "The request signature we calculated does not match the signature you provided.")

    def raise_access_denied(self: IAMRequest) -> None:
        # JSON-protocol services (DynamoDB, KMS, Secrets Manager, SQS) answer in JSON, naming the resource.
        if not json_protocol(self):
            denied(self)
        code = "AccessDenied" if self._service == "sqs" else "AccessDeniedException"
        raise JsonRESTError(code, f"User: {self._access_key.arn} is not authorized to perform: {self._action} "
                                  f"on resource: {getattr(self, 'resource', '*')} because no identity-based "
                                  f"policy allows the {self._action} action")

    def create_aws_request(self: IAMRequest) -> AWSRequest:
        # A form POST's parameters are the signed body (werkzeug took them out of it); a GET has none, where
        # moto's own used its parsed parameters: the headers.
        signed = self._get_string_between("SignedHeaders=", ",", self._headers["Authorization"]).split(";")
        headers = self._create_headers_for_aws_request(signed, self._headers)
        body = self._body or (b"" if self._method in ("GET", "HEAD", "DELETE") else self._data)
        request = AWSRequest(method=self._method, url=self._path, data=body, headers=headers)
        request.context["timestamp"] = headers["X-Amz-Date"]
        return request

    s3_init = S3IAMRequest.__init__

    def s3_request(self: S3IAMRequest, *args: Any, **kwargs: Any) -> None:
        s3_init(self, *args, **kwargs)
        service, _, action = self._action.partition(":")
        self._action = f"{service}:{_S3_ACTIONS.get(action, action)}"

    iam_init = IAMRequest.__init__

    def iam_request(self: IAMRequest, *args: Any, **kwargs: Any) -> None:
        iam_init(self, *args, **kwargs)
        service, _, action = self._action.partition(":")
        if service == "sqs":
            self._action = f"sqs:{_SQS_ACTIONS.get(action, action)}"

    S3IAMRequest.__init__ = s3_request  # type: ignore[method-assign]
    IAMRequest.__init__ = iam_request  # type: ignore[method-assign]
    IAMRequest._create_aws_request = create_aws_request  # type: ignore[method-assign]
    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]
    IAMRequest._raise_access_denied = raise_access_denied  # type: ignore[method-assign]
    IAMRequest._raise_invalid_access_key = raise_invalid_access_key  # type: ignore[method-assign]
    IAMRequest._raise_signature_does_not_match = raise_signature_does_not_match  # type: ignore[method-assign]

    from moto import settings

    authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def checked_against(checks: Callable[[Any, str], Iterator[Check]],
                        conditions: Callable[[Any], dict[str, str]] | None = None) -> Callable[..., None]:
        def authorize_each(self: Any, resource: str = "*") -> None:
            if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
                authorize(self, IAMRequest, resource)  # not enforcing yet: moto counts the request
                return
            action = self._get_action()
            _request_conditions.values = conditions(self) if conditions else {}
            try:
                for each, arn in dict.fromkeys(checks(self, action)) or {(action, "*"): None}:
                    # moto's check names the action from _get_action(): name each contained action instead.
                    self._get_action = lambda each=each: each
                    try:
                        authorize(self, IAMRequest, arn)
                    finally:
                        del self._get_action
            finally:
                _request_conditions.values = {}
        return authorize_each

    DynamoHandler._authenticate_and_authorize_normal_action = checked_against(  # type: ignore[method-assign]
        _dynamodb_checks)
    KmsResponse._authenticate_and_authorize_normal_action = checked_against(  # type: ignore[method-assign]
        _kms_checks, _kms_conditions)
    SecretsManagerResponse._authenticate_and_authorize_normal_action = checked_against(  # type: ignore[method-assign]
        _secrets_checks)


def _service_principals() -> None:
    from moto.iam.access_control import IAMPolicyStatement

    check = IAMPolicyStatement._check_principal

    def check_principal(self: IAMPolicyStatement, principal: str) -> bool:
        expected = self._statement.get("Principal")
        if isinstance(expected, dict) and "AWS" not in expected:  # services (or federated) only
            return "Service" in expected and principal.endswith(f":user/{SERVICE_USER}")
        if isinstance(expected, dict):  # an account (its root, or its id) trusts every principal of that account
            named = expected["AWS"] if isinstance(expected["AWS"], list) else [expected["AWS"]]
            account = principal.split(":")[4] if principal.count(":") >= 5 else None
            if account and any(str(a).endswith(f"::{account}:root") or str(a) == account for a in named):
                return True
        return bool(check(self, principal))

    IAMPolicyStatement._check_principal = check_principal  # type: ignore[method-assign]


def _cloudformation_roles() -> None:
    from moto.iam.models import Role, iam_backends
    from moto.utilities.utils import get_partition

    create = Role.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_role(cls: type[Role], resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
                    region_name: str, **kwargs: Any) -> Role:
        props = cloudformation_json.get("Properties") or {}
        policies = [{**policy, "PolicyDocument": document if isinstance(document, str)
                     else json.dumps(document, default=str)}
                    for policy in props.get("Policies") or [] for document in [policy.get("PolicyDocument")]]
        role = create(cls, resource_name, {**cloudformation_json, "Properties": {**props, "Policies": policies}},
                      account_id, region_name, **kwargs)
        backend = iam_backends[account_id][get_partition(region_name)]
        for arn in props.get("ManagedPolicyArns") or []:
            backend.attach_role_policy(arn, role.name)
        return role

    Role.create_from_cloudformation_json = classmethod(create_role)  # type: ignore[method-assign, assignment]

    from moto.kms.models import Key

    create_key = Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_key_with_json_policy(cls: type[Key], *args: Any, **kwargs: Any) -> Key:
        key = create_key(cls, *args, **kwargs)
        if not isinstance(key.policy, str):  # moto's DescribeKey, Encrypt, ... read it as JSON (500 otherwise)
            key.policy = json.dumps(key.policy, default=str)
        return key

    Key.create_from_cloudformation_json = classmethod(create_key_with_json_policy)  # type: ignore[method-assign, assignment]


def _public_operations() -> None:
    import botocore.session
    from moto.core.authorization import ActionAuthenticatorMixin

    session = botocore.session.get_session()
    for service, prefix in (("cognito-idp", "AWSCognitoIdentityProviderService"),
                            ("cognito-identity", "AWSCognitoIdentityService")):
        model = session.get_service_model(service)
        for name in model.operation_names:
            target = f"{prefix}.{name}"
            if model.operation_model(name).auth_type == "none" and target not in (
                    ActionAuthenticatorMixin.PUBLIC_OPERATIONS):
                ActionAuthenticatorMixin.PUBLIC_OPERATIONS.append(target)


def _conditions() -> None:
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    from .moto_s3 import TLS_CONTEXT, conditions_met  # one reading of conditions, bucket policies' too

    permitted = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(self: IAMPolicyStatement, action: str, resource: str = "*",
                            principal: str | None = None,
                            incoming_condition_values: dict[str, str] | None = None) -> PermissionResult:
        conditions = self._statement.get("Condition")
        if not conditions:
            return permitted(self, action, resource, principal, incoming_condition_values)
        # A statement whose conditions do not hold does not apply (moto made it deny, even for an Allow).
        request = getattr(_request_conditions, "values", {})
        if not conditions_met(conditions, {**TLS_CONTEXT, **request, **(incoming_condition_values or {})}):
            return PermissionResult.NEUTRAL
        unconditioned = IAMPolicyStatement({k: v for k, v in self._statement.items() if k != "Condition"})
        return permitted(unconditioned, action, resource, principal, incoming_condition_values)

    IAMPolicyStatement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]
