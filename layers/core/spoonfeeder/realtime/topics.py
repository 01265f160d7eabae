"""Topics a client may subscribe to, and who may: only the owner of what the topic names.

A topic is `<kind>:<id>`. `owner:<user id>` is the user's own stream; every other kind names one item of the
table: a task or a batch, whose `owner` attribute decides, or a ComfyUI session, kept under its owner's
partition (so it is found only with its owner's id). Unknown ids are refused exactly as other users' are, so a
topic tells nobody whether an id exists.
"""

from __future__ import annotations

from typing import Any

from spoonfeeder.errors import Forbidden, ValidationFailed

#: The item each kind of topic names (pk prefix, sk); `owner` names the user and no item.
SUBJECTS = {"task": ("TASK#", "TASK"), "batch": ("BATCH#", "BATCH")}
OWNED = {"session": "SESSION#"}  # items under `OWNER#<owner>`, sk prefix + id
KINDS = ("owner", *SUBJECTS, *OWNED)
#: Kinds whose events live in the named item's own partition, numbered by `seq` (resumed `after_seq`); a
#: session's events are its tasks' and are resumed by event id (`after`) from gsi2.
SEQUENCED = frozenset({"task", "batch"})


def parse(topic: str) -> tuple[str, str]:
    kind, sep, ident = topic.partition(":")
    if not sep or not ident or kind not in KINDS or len(topic) > 200:
        raise ValidationFailed(f"unknown topic {topic!r}; topics look like task:<id>, session:<id>, batch:<id> "
                               "or owner:<user id>", code="INVALID_TOPIC")
    return kind, ident


def subject_pk(kind: str, ident: str) -> str:
    return f"{SUBJECTS[kind][0]}{ident}"


def authorize(topic: str, owner: str, ddb: Any, table: str) -> tuple[str, str]:
    """The topic's (kind, id) if `owner` may watch it; Forbidden otherwise (also for unknown ids)."""
    kind, ident = parse(topic)
    if kind == "owner":
        if ident == owner:
            return kind, ident
    elif kind in OWNED:
        got = ddb.get_item(TableName=table, Key={"pk": {"S": f"OWNER#{owner}"}, "sk": {"S": f"{OWNED[kind]}{ident}"}},
                           ProjectionExpression="pk", ConsistentRead=True)
        if "Item" in got:
            return kind, ident
    else:
        got = ddb.get_item(TableName=table, Key={"pk": {"S": subject_pk(kind, ident)}, "sk": {"S": SUBJECTS[kind][1]}},
                           ProjectionExpression="#o", ExpressionAttributeNames={"#o": "owner"}, ConsistentRead=True)
        if got.get("Item", {}).get("owner", {}).get("S") == owner:
            return kind, ident
    raise Forbidden(f"not allowed to watch {topic}", code="TOPIC_FORBIDDEN")
