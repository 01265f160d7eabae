"""The template's event source mappings, run by the local pollers instead of by moto.

moto 5.2 would attach every ``AWS::Lambda::EventSourceMapping`` to its queue or table and try to invoke
the function itself (through Docker) on each write: for a queue it receives the message first (its
receive count goes up, so it reaches the DLQ early); for a table it then **clears the stream's records**,
so ``get_records`` sees nothing. So the mappings are kept out of moto's stack; their intrinsic values
are resolved through stack Outputs (see ``fixups.Fixups.defer``) and described here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MAPPING_TYPE", "EventSource", "event_sources"]

log = logging.getLogger(__name__)
MAPPING_TYPE = "AWS::Lambda::EventSourceMapping"
_DEFAULT_BATCH = {"sqs": 10, "dynamodb": 100}


@dataclass(frozen=True)
class EventSource:
    function: str  # logical id
    kind: str  # "sqs" | "dynamodb"
    source_arn: str
    queue_url: str | None
    batch_size: int
    report_batch_item_failures: bool
    starting_position: str | None
    filter_patterns: list[dict[str, Any]]
    maximum_retry_attempts: int | None = None
    maximum_concurrency: int | None = None  # ScalingConfig.MaximumConcurrency (SQS): invocations at once


def _function(declared: Any, resolved: Any, names: Mapping[str, str]) -> str | None:
    """The logical id of the mapping's function, from the template's Ref (or its resolved name/ARN)."""
    if isinstance(declared, dict) and isinstance(declared.get("Ref"), str):
        return str(declared["Ref"])
    if isinstance(declared, dict) and "Fn::GetAtt" in declared:
        target = declared["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
    return names.get(str(resolved).rsplit(":", 1)[-1])


def event_sources(declared: Mapping[str, dict[str, Any]], resolved: Mapping[str, dict[str, Any]],
                  function_names: Mapping[str, str], sqs: Any, account_id: str) -> list[EventSource]:
    """``declared``/``resolved``: each mapping's properties as in the template / with values resolved;
    ``function_names``: physical function name -> logical id."""
    sources: list[EventSource] = []
    for logical_id, props in resolved.items():
        function = _function(declared[logical_id].get("FunctionName"), props.get("FunctionName"),
                             function_names)
        arn = str(props.get("EventSourceArn") or "")
        kind = arn.split(":")[2] if arn.count(":") >= 2 else ""
        if function is None or kind not in _DEFAULT_BATCH:
            log.warning("%s: %s event sources are not run locally", logical_id, kind or arn or "these")
            continue
        if str(props.get("Enabled", True)).lower() == "false":
            log.info("%s is disabled in the template", logical_id)
            continue
        queue_url = None
        if kind == "sqs":
            owner = arn.split(":")[4] or account_id
            queue_url = str(sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1],
                                              QueueOwnerAWSAccountId=owner)["QueueUrl"])
        filters = (props.get("FilterCriteria") or {}).get("Filters") or []
        retry = props.get("MaximumRetryAttempts")
        concurrency = (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
        sources.append(EventSource(
            function=function, kind=kind, source_arn=arn, queue_url=queue_url,
            batch_size=int(props.get("BatchSize") or _DEFAULT_BATCH[kind]),
            report_batch_item_failures="ReportBatchItemFailures" in (
                props.get("FunctionResponseTypes") or []),
            starting_position=props.get("StartingPosition"),
            filter_patterns=[json.loads(f["Pattern"]) for f in filters if f.get("Pattern")],
            maximum_retry_attempts=None if retry is None else int(retry),
            maximum_concurrency=None if concurrency is None else int(concurrency)))
    return sources
