"""`spoon-agent`: run the GPU agent in the foreground until SIGTERM or SIGINT (systemd, a container, Ctrl-C)."""

from __future__ import annotations

import signal
import sys
from types import FrameType

from spoonfeeder import settings

from spoon_agent.agent import Agent
from spoon_agent.config import AgentSettings


def main() -> int:
    try:
        config = settings.load(AgentSettings)
    except settings.SettingsError as exc:
        print(f"spoon-agent: {exc}", file=sys.stderr)
        return 2
    agent = Agent(config)

    def stop(signum: int, frame: FrameType | None) -> None:
        agent.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
