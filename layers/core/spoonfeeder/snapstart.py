"""Lambda SnapStart hooks: warm-up before the snapshot, and what must be new after each restore.

With the template's SnapStart parameter on, Lambda runs a version's init once, snapshots the memory, and resumes
every cold start from that snapshot. Whatever init leaves ready is then free: `prepare` registers the warm-up
that a function's first requests would otherwise pay for (boto3 clients, modules imported lazily, the OpenAPI
document). Every restored environment is a copy of the one snapshot, so after each restore the random generator
is seeded again and the boto3 clients are dropped: their connections belong to the snapshot, and the next call
creates new ones, cheaply, since the service models stay loaded.

The Lambda runtime provides `snapshot_restore_py` (tests get it from PyPI); without it nothing is ever
snapshotted, and registering does nothing.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Iterable
from typing import Any

from spoonfeeder.data import aws

try:
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:  # neither a SnapStart runtime nor the package: no snapshot will be taken

    def register_before_snapshot(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return func

    def register_after_restore(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return func


def prepare(*services: str, modules: Iterable[str] = (), then: Callable[[], object] | None = None) -> None:
    """Before the snapshot: import `modules`, create the boto3 clients of `services` and every client handed out
    so far (stores made at import hold theirs), then run `then`. Nothing here calls AWS."""
    names = tuple(modules)

    def warm() -> None:
        for name in names:
            importlib.import_module(name)
        aws.warm(*services)
        if then is not None:
            then()

    register_before_snapshot(warm)


def renew() -> None:
    """After a restore: new random seed (restored copies would draw the same numbers) and new AWS clients."""
    random.seed()
    aws.reset()


register_after_restore(renew)
