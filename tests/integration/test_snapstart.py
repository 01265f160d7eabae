"""SnapStart: each function's before-snapshot hooks make ready what its first requests need, without calling AWS,
and after a restore the random generator and the AWS clients are new while the handler keeps answering.

Each function runs in its own process with the environment of the template, as Lambda would start it; the hooks
are run the way the runtime runs them (snapshot_restore_py's registries). The template's SnapStart parameter is
checked on its SAM transform: on, every trigger invokes the alias whose versions have SnapStart; off, nothing
changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROBE = """
import json, random, sys
sys.path.insert(0, sys.argv[1])
import app
from snapshot_restore_py import get_after_restore, get_before_snapshot
from spoonfeeder.data import aws

modules = ("jwt", "openai", "aws_lambda_powertools.utilities.parameters",
           "aws_lambda_powertools.event_handler.openapi.models")
imported_at_init = [m for m in modules if m in sys.modules]
for hook, args, kwargs in get_before_snapshot():
    hook(*args, **kwargs)
snapshot = {"clients": sorted(lazy.service for lazy in aws._handed_out.values()),
            "created": aws._real.cache_info().currsize,
            "imported": [m for m in modules if m in sys.modules]}
state = random.getstate()
for hook, args, kwargs in get_after_restore():
    hook(*args, **kwargs)
restored = {"reseeded": random.getstate() != state, "created": aws._real.cache_info().currsize}
answer = None
if sys.argv[2] == "ApiFunction":
    from types import SimpleNamespace
    context = SimpleNamespace(function_name="api", memory_limit_in_mb=512, aws_request_id="r1",
                              invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:api:live")
    event = {"version": "2.0", "routeKey": "$default", "rawPath": "/api/docs", "rawQueryString": "",
             "headers": {}, "requestContext": {"http": {"method": "GET", "path": "/api/docs"},
                                                "requestId": "r1", "stage": "$default"},
             "isBase64Encoded": False}
    response = app.lambda_handler(event, context)
    answer = {"status": response["statusCode"], "swagger": "swagger" in response["body"].lower()}
print(json.dumps({"init": imported_at_init, "snapshot": snapshot, "restored": restored, "answer": answer}))
"""

WARMED = {  # function -> (boto3 clients created before the snapshot, modules imported then, not at init)
    "ApiFunction": ({"dynamodb", "sqs", "s3", "cognito-idp"}, {"aws_lambda_powertools.event_handler.openapi.models"}),
    "WsFunction": ({"dynamodb", "apigatewaymanagementapi"}, {"jwt"}),
    "EventsFunction": ({"dynamodb", "apigatewaymanagementapi"}, set()),
    "LlmWorkerFunction": ({"dynamodb", "sqs", "s3"}, {"openai", "aws_lambda_powertools.utilities.parameters"}),
    "DeadLettersFunction": ({"dynamodb"}, set()),
    "SweeperFunction": ({"dynamodb", "sqs"}, set()),
}


def probe(stack: Any, function: str) -> dict[str, Any]:
    spec = stack.functions[function]
    # A closed port: a hook that called AWS would fail here instead of passing quietly.
    env = {**os.environ, **spec.env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-c", PROBE, str(spec.code_dir), function], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("function", sorted(WARMED))
def test_the_snapshot_holds_the_clients_and_modules_the_first_requests_need(stack: Any, function: str) -> None:
    clients, modules = WARMED[function]
    seen = probe(stack, function)
    assert not modules & set(seen["init"]), "imported at init: the first request would not need it"
    assert clients <= set(seen["snapshot"]["clients"])
    assert seen["snapshot"]["created"] == len(seen["snapshot"]["clients"])
    assert modules <= set(seen["snapshot"]["imported"])


@pytest.mark.parametrize("function", sorted(WARMED))
def test_a_restore_reseeds_random_and_drops_the_snapshots_clients(stack: Any, function: str) -> None:
    restored = probe(stack, function)["restored"]
    assert restored == {"reseeded": True, "created": 0}


def test_the_api_serves_its_swagger_ui_from_a_restored_snapshot(stack: Any) -> None:
    assert probe(stack, "ApiFunction")["answer"] == {"status": 200, "swagger": True}


def transformed(**parameters: str) -> dict[str, Any]:
    """The template as the SAM transform (after AWS::LanguageExtensions) makes it for these parameters."""
    from localcloud.template import load_sam_template

    root = Path(__file__).resolve().parents[2]
    return load_sam_template(root / "template.yaml", "us-east-1", "123456789012", parameters).resources


def test_snapstart_on_publishes_every_function_behind_live_and_every_trigger_invokes_the_alias() -> None:
    resources = transformed(SnapStart="true")
    functions = [name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"]
    aliases = {r["Properties"]["FunctionName"]["Ref"]: name for name, r in resources.items()
               if r["Type"] == "AWS::Lambda::Alias" and r["Properties"]["Name"] == "live"}
    assert functions and set(aliases) == set(functions)
    for name in functions:
        assert resources[name]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    for mapping in (r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"):
        assert mapping["Properties"]["FunctionName"]["Ref"] in aliases.values()
    ws_alias = {"Ref": aliases["WsFunction"]}
    assert resources["WebSocketIntegration"]["Properties"]["IntegrationUri"]["Fn::Sub"][1]["Target"] == ws_alias
    assert resources["WebSocketInvokePermission"]["Properties"]["FunctionName"] == ws_alias


def test_snapstart_off_makes_no_versions_and_triggers_invoke_the_function() -> None:
    resources = transformed()
    assert not [name for name, r in resources.items() if r["Type"] in ("AWS::Lambda::Alias", "AWS::Lambda::Version")]
    for name in (n for n, r in resources.items() if r["Type"] == "AWS::Lambda::Function"):
        assert resources[name]["Properties"]["SnapStart"] == {"ApplyOn": "None"}
    assert resources["WebSocketInvokePermission"]["Properties"]["FunctionName"] == {"Ref": "WsFunction"}
