"""Fixes to moto's DynamoDB Streams, applied inside the local moto server process only.

- moto deep-copies a table on every TransactWriteItems and, if the transaction is cancelled, puts the copy
  in the table's place — with a copy of its stream shard, so every reader of the stream (the local cloud's
  stream runner) was left reading a shard nobody writes to any more. The shard is now shared by the table
  and its copies: a cancelled transaction keeps the stream the readers have.
- Sharing also ends the cost of copying the stream on each write, which made every write of a long
  `make dev` session slower than the last.
- moto keeps stream records for ever; real streams keep them 24 hours. A shard keeps its newest
  STREAM_RECORDS_KEPT records (the runner reads every ~100 ms, far behind that), and a shard iterator is
  forgotten once used, as AWS lets it expire.

A cancelled transaction may leave stream records of the writes it made before the failing condition (moto
applies them in order), so writers put the condition most likely to fail first.
"""

from __future__ import annotations

from typing import Any

STREAM_RECORDS_KEPT = 1000


def apply() -> None:
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
