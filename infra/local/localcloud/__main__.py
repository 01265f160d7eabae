"""``python -m localcloud``: run the Spoon Feeder local cloud in the foreground (settings: see cloud.py).

Kept import-free at module level: function workers are spawned processes, and spawn re-imports the
parent's main module in every one of them.
"""

from __future__ import annotations

import sys


def main() -> int:
    from .cloud import main as run

    return run()


if __name__ == "__main__":
    sys.exit(main())
