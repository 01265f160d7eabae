"""The local cloud's schedules: the template's schedule rules described, and fired like EventBridge does."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from localcloud.cloud import Settings
from localcloud.functions import FunctionHost, InvokeResult
from localcloud.runners import ScheduleRunner, ScheduleRunners
from localcloud.schedules import rate_seconds, schedules
from localcloud.stack import FunctionSpec, Schedule, Stack, aws_client

from tests.conftest import MotoEndpoint

ROOT = Path(__file__).resolve().parents[2]

REGION = "us-east-1"
ACCOUNT = "123456789012"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/probe-rule"
SCALE = 0.005  # rate(1 minute) fires every 0.3 s
pytestmark = pytest.mark.timeout(60)

HANDLER = '''
import json, os

def lambda_handler(event, context):
    with open(os.environ["OUT"], "a") as out:
        out.write(json.dumps(event) + "\\n")
    return {"ok": True}
'''


def schedule(expression: str = "rate(1 minute)", input: str | None = None) -> Schedule:
    return Schedule(function="probe", expression=expression, rule_name="probe-rule", rule_arn=RULE_ARN,
                    input=input)


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------------------------------- stack
def test_stack_describes_the_sweeper_schedule(moto: MotoEndpoint, stack: Stack) -> None:
    sweeper = [s for s in stack.schedules if s.function == "SweeperFunction"]
    assert len(sweeper) == 1
    rule = sweeper[0]
    assert rule.expression == "rate(1 minute)" and rule.period == 60 and rule.input is None
    assert rule.rule_name == stack.resources["SweeperFunctionEveryMinute"]
    events = aws_client("events", moto.url, REGION)
    described = events.describe_rule(Name=rule.rule_name)
    assert rule.rule_arn == described["Arn"] and described["ScheduleExpression"] == "rate(1 minute)"
    assert rule.rule_arn == f"arn:aws:events:{REGION}:{stack.account_id}:rule/{rule.rule_name}"
    # moto keeps the rule but not its Lambda target: it would hand every PutEvents to it, and fail.
    assert events.list_targets_by_rule(Rule=rule.rule_name)["Targets"] == []
    sent = events.put_events(Entries=[{"Source": "probe", "DetailType": "probe", "Detail": "{}"}])
    assert sent["FailedEntryCount"] == 0


def test_schedule_description() -> None:
    functions = {"fn-physical": "Fn"}
    fn_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-physical"
    resolved = {
        "Every": {"RuleArn": "arn:every", "ScheduleExpression": "rate(5 minutes)", "Targets": [
            {"Id": "a", "Arn": fn_arn, "Input": '{"sweep": true}'},
            {"Id": "b", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue"}]},
        "Cron": {"RuleArn": "arn:cron", "ScheduleExpression": "cron(0 12 * * ? *)",
                 "Targets": [{"Id": "c", "Arn": fn_arn + ":live"}]},
        "Off": {"RuleArn": "arn:off", "ScheduleExpression": "rate(1 day)", "State": "DISABLED",
                "Targets": [{"Id": "d", "Arn": fn_arn}]},
        "Bad": {"RuleArn": "arn:bad", "ScheduleExpression": "rate(2 weeks)", "Targets": [{"Id": "e", "Arn": fn_arn}]},
    }
    names = {"Every": "every", "Cron": "cron", "Off": "off", "Bad": "bad"}
    assert schedules(resolved, names, functions) == [
        Schedule("Fn", "rate(5 minutes)", "every", "arn:every", '{"sweep": true}'),
        Schedule("Fn", "cron(0 12 * * ? *)", "cron", "arn:cron"),
    ]
    assert [rate_seconds(e) for e in ("rate(1 minute)", "rate(2 hours)", "rate(1 day)", "cron(0 * * * ? *)")] == [
        60, 7200, 86400, None]
    for bad in ("rate(0 minutes)", "rate(1 week)", "every minute"):
        with pytest.raises(ValueError):
            rate_seconds(bad)


def test_schedule_scale_setting() -> None:
    assert Settings.from_env({}).schedule_scale == 1.0
    assert Settings.from_env({"SPOON_SCHEDULE_SCALE": "0.02"}).schedule_scale == 0.02
    for bad in ("0", "-1", "fast", "inf"):
        with pytest.raises(ValueError, match="SPOON_SCHEDULE_SCALE"):
            Settings.from_env({"SPOON_SCHEDULE_SCALE": bad})


# ------------------------------------------------------------------------------------------ runner
def test_schedule_runner_invokes_the_function(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    out = tmp_path / "events.jsonl"
    spec = FunctionSpec(name="probe", handler="app.lambda_handler", code_dir=code, layer_dirs=[],
                        env={"OUT": str(out)}, timeout=5, memory=128)
    host = FunctionHost(spec, {"AWS_REGION": REGION}, max_concurrency=1)
    fired: list[float] = []
    results: list[InvokeResult] = []

    async def invoke(function: str, event: Any) -> InvokeResult:
        assert function == "probe"
        fired.append(time.monotonic())
        results.append(await host.invoke(event))
        return results[-1]

    def delivered() -> list[dict[str, Any]]:
        return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []

    async def scenario() -> float:
        runner = ScheduleRunner(schedule(), invoke, REGION, ACCOUNT, scale=SCALE)
        assert runner.interval == pytest.approx(0.3)
        started = time.monotonic()
        await runner.start()
        try:
            await wait_for(lambda: len(delivered()) >= 2)
        finally:
            stopping = time.monotonic()
            await runner.stop()
            assert time.monotonic() - stopping < 1.0
        return started

    try:
        started = asyncio.run(scenario())
    finally:
        host.close()
    assert fired[0] - started >= 0.25  # one period after start, not at once
    assert fired[1] - fired[0] >= 0.2
    assert all(r.ok for r in results)
    events = delivered()
    now = datetime.now(UTC)
    for event in events:
        assert list(event) == ["version", "id", "detail-type", "source", "account", "time", "region",
                               "resources", "detail"]
        assert {k: v for k, v in event.items() if k not in ("id", "time")} == {
            "version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "account": ACCOUNT,
            "region": REGION, "resources": [RULE_ARN], "detail": {}}
        assert str(uuid.UUID(event["id"])) == event["id"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
        moment = datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs((now - moment).total_seconds()) < 30
    assert len({event["id"] for event in events}) == len(events)


def test_schedule_runner_input_failures_and_cron(caplog: pytest.LogCaptureFixture) -> None:
    """A target's Input replaces the event; failures are logged and the schedule goes on; cron is skipped."""
    events: list[Any] = []

    async def invoke(function: str, event: Any) -> InvokeResult:
        events.append(event)
        if len(events) == 1:
            raise RuntimeError("worker gone")
        if len(events) == 2:
            return InvokeResult(False, {"errorType": "ValueError", "errorMessage": "boom"})
        return InvokeResult(True, None)

    async def scenario() -> None:
        runners = ScheduleRunners([schedule(input='{"sweep": {"all": true}}'), schedule("cron(0 12 * * ? *)")],
                                  invoke, REGION, ACCOUNT, scale=0.002)  # every 0.12 s
        assert len(runners.runners) == 1
        async with runners:
            await wait_for(lambda: len(events) >= 3, timeout=5)

    with caplog.at_level(logging.INFO, logger="localcloud"):
        asyncio.run(scenario())
    assert events[:3] == [{"sweep": {"all": True}}] * 3
    messages = [r.getMessage() for r in caplog.records]
    assert any("cron schedules are not run locally" in m for m in messages)
    assert any("invoking probe failed" in m for m in messages)
    assert any("probe failed on the scheduled event of probe-rule: ValueError: boom" in m for m in messages)
    with pytest.raises(ValueError, match="only rate"):
        ScheduleRunner(schedule("cron(0 12 * * ? *)"), invoke, REGION, ACCOUNT)
