"""DynamoDB's item size rules, and the list index projecting exactly the list's fields."""

from __future__ import annotations

from pathlib import Path

import yaml
from spoonfeeder.data.items import to_item
from spoonfeeder.data.sizes import item_bytes
from spoonfeeder.data.task_store import ACTIVE_SHARDS, active_shard
from spoonfeeder.models.tasks import TaskSummary

ROOT = Path(__file__).resolve().parents[2]


def test_item_bytes_count_names_and_utf8_values() -> None:
    assert item_bytes(to_item({"pk": "漢"})) == 2 + 3
    assert item_bytes(to_item({"n": 12345})) == 1 + 4  # 5 significant digits: 3 bytes + 1
    assert item_bytes(to_item({"m": {"a": "xy"}})) == 1 + 3 + (1 + 1 + 2)
    assert item_bytes(to_item({"l": ["x", True]})) == 1 + 3 + (1 + 1) + (1 + 1)


def test_unfinished_tasks_spread_over_every_gsi3_shard() -> None:
    shards = {active_shard(f"01JDTESTTESTTESTTESTTE{n:04d}") for n in range(400)}
    assert shards == {f"ACTIVE#{n:02d}" for n in range(ACTIVE_SHARDS)}


def test_the_list_index_projects_exactly_the_summary_fields() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    indexes = {i["IndexName"]: i for i in template["Resources"]["Table"]["Properties"]["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"gsi1", "gsi2", "gsi3"}
    projection = indexes["gsi1"]["Projection"]
    assert projection["ProjectionType"] == "INCLUDE"
    assert set(projection["NonKeyAttributes"]) == set(TaskSummary.model_fields)
    assert indexes["gsi3"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert indexes["gsi2"]["Projection"] == {"ProjectionType": "ALL"}
