"""Partial batch responses: only the records that raised come back, by the identifier their source expects."""

from __future__ import annotations

from typing import Any

import pytest
from spoonfeeder import batch


def sqs(*ids: str) -> list[dict[str, Any]]:
    return [{"messageId": i, "body": i} for i in ids]


def fail_on(*bad: str) -> Any:
    def handle(record: dict[str, Any]) -> None:
        if record["body"] in bad:
            raise RuntimeError(f"{record['body']} failed")
    return handle


def test_only_the_failed_records_are_reported() -> None:
    answer = batch.process(sqs("a", "b", "c"), fail_on("b"), item_id=batch.sqs_message_id)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "b"}]}


def test_a_whole_failed_sqs_batch_is_reported_record_by_record() -> None:
    answer = batch.process(sqs("a", "b"), fail_on("a", "b"), item_id=batch.sqs_message_id)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]}


def test_a_whole_failed_stream_batch_raises_so_it_is_retried_as_a_whole() -> None:
    records = [{"dynamodb": {"SequenceNumber": "1"}, "body": "x"}, {"dynamodb": {"SequenceNumber": "2"}, "body": "x"}]
    with pytest.raises(batch.EntireBatchFailed):
        batch.process(records, fail_on("x"), item_id=batch.stream_sequence_number, raise_if_all_fail=True)
    records[1]["body"] = "fine"
    assert batch.process(records, fail_on("x"), item_id=batch.stream_sequence_number, raise_if_all_fail=True) == {
        "batchItemFailures": [{"itemIdentifier": "1"}]}


def test_an_empty_batch_reports_nothing() -> None:
    assert batch.process([], fail_on(), item_id=batch.sqs_message_id, raise_if_all_fail=True) == {
        "batchItemFailures": []}
