"""The agent's work: tasks from the shared gpu-tasks queue, commands from its own inbox, run on this host's Ollama
and ComfyUI.

Each delivery runs on its own thread with the same runner as the Lambda workers (start under a lease, stream,
finish; retry, fail, or skip a duplicate), up to `agent_concurrency` tasks at once; model operations from the
inbox run beside them on their own few threads, so a long pull never takes a task's place. A heartbeat keeps
every held message hidden for one lease and renews every run's lease; a killed agent stops beating, so its
messages come back and its runs' leases end within `lease_seconds`, and another agent (or this one, restarted)
takes the runs over.

Stopping (SIGTERM): no new work is taken; tasks under way get `agent_grace_seconds` to finish, and what is
still running then is handed back — the task goes to `retrying` and its message is visible again at once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from spoonfeeder import ids
from spoonfeeder.catalog.ollama_names import same
from spoonfeeder.data import queues
from spoonfeeder.data.agents import AgentInbox, AgentRegistry, InboxCommand
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.models.messages import InvalidMessage, TaskMessage
from spoonfeeder.models.task_record import Task
from spoonfeeder.tasks.dead_letters import fail_exhausted
from spoonfeeder.tasks.lease import Heartbeat
from spoonfeeder.tasks.routing import Lane
from spoonfeeder.tasks.runner import Delivery, RetryLater, TextTaskRunner
from spoonfeeder.tasks.state import transition

from spoon_agent.comfyui_driver import ComfyUI
from spoon_agent.comfyui_tasks import ComfyUIGenerations
from spoon_agent.config import AgentSettings
from spoon_agent.host_providers import HostProviders
from spoon_agent.inventory import Inventory
from spoon_agent.metrics import AgentMetrics
from spoon_agent.ollama_driver import OllamaModels
from spoon_agent.ollama_tasks import OllamaModelOperations, OllamaProviders

logger = Logger(service="spoon-agent")

COMMAND_THREADS = 2  # model operations at once, beside the tasks
STOPPING = "AGENT_STOPPING"


class Agent:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.id = settings.identity
        self.queue_url = settings.gpu_tasks_queue_url
        self.store = TaskStore(settings.table_name, settings.bucket_name)
        self.metrics = AgentMetrics()
        self.models = OllamaModels(settings.ollama_url, timeout=settings.provider_timeout_seconds)
        self.inbox = AgentInbox(settings.table_name)
        self.registry = AgentRegistry(settings.table_name)
        self.comfyui = (ComfyUI(settings.comfyui_url, client_id=f"spoon-agent-{self.id}",
                                timeout=min(60.0, settings.provider_timeout_seconds))
                        if settings.comfyui_url else None)
        self.inventory = Inventory(settings, self.models, self.registry, self.in_flight, self.metrics,
                                   comfyui=self.comfyui)
        operations = OllamaModelOperations(self.models, self.id, self.metrics, changed=self.inventory.beat)
        providers = OllamaProviders(settings.ollama_url, settings.provider_timeout_seconds, self.models,
                                    simulated=settings.ollama_simulated, auto_pull=settings.agent_auto_pull,
                                    others_with=self._others_with, has=self.inventory.has,
                                    pulled=self.inventory.beat)
        host = HostProviders(providers, comfyui_up=self.inventory.comfyui_up,
                             others_with_comfyui=self._others_with_comfyui,
                             comfyui_simulated=settings.comfyui_simulated)
        generations = ComfyUIGenerations(self.comfyui, self.store, settings.bucket_name,
                                         ready_seconds=settings.comfyui_ready_seconds)
        self.runner = TextTaskRunner(self.store, settings, host, Lane.GPU, self.queue_url,
                                     model_operations=operations, generations=generations,
                                     run_metadata={"agent_id": self.id})
        self.heartbeat = Heartbeat(self.store, lambda handles, seconds: queues.keep_hidden(self.queue_url, handles,
                                                                                           seconds),
                                   lease_seconds=settings.lease_seconds, every_seconds=settings.heartbeat_seconds)
        self._task_slots = threading.BoundedSemaphore(settings.agent_concurrency)
        self._command_slots = threading.BoundedSemaphore(COMMAND_THREADS)
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[Task | None, Callable[[], None]]] = {}  # key -> (its run's task, hand back)
        self._commands_busy: set[str] = set()
        self._commands_not_before: dict[str, float] = {}
        self._command_deliveries: Counter[str] = Counter()
        self._handed_back: set[str] = set()  # runs handed back at the end of the grace period
        self.stopping = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def in_flight(self) -> int:
        with self._lock:
            return len(self._runs)

    def run(self) -> None:
        """Work until `stop()` (a signal); then finish or hand back what is held, within the grace period."""
        self.metrics.serve(self.settings.metrics_port, self.settings.metrics_host)
        self.inventory.start()
        logger.info("agent started", extra={"agent_id": self.id, "concurrency": self.settings.agent_concurrency,
                                            "simulated": self.settings.ollama_simulated})
        inbox = threading.Thread(target=self._read_inbox, name="inbox", daemon=True)
        with self.heartbeat:
            inbox.start()
            self._receive_tasks()
            inbox.join()
            self._drain()
        self.inventory.stop(leave=True)
        if self.comfyui is not None:
            self.comfyui.close()
        logger.info("agent stopped", extra={"agent_id": self.id})

    def stop(self) -> None:
        self.stopping.set()

    def _drain(self) -> None:
        deadline = time.monotonic() + self.settings.agent_grace_seconds
        while self.in_flight() and time.monotonic() < deadline:
            time.sleep(0.1)
        with self._lock:
            left = list(self._runs.items())
        for key, (task, hand_back) in left:
            with self._lock:
                self._handed_back.add(key)
            logger.warning("grace period over: handing the task back", extra={"task_id": task.id if task else None})
            if task is not None:
                self._release(task)
            hand_back()
            self.heartbeat.running(None, key=key)

    def _release(self, task: Task) -> None:
        """Hand a run back: `retrying` at once, without its lease, so the next delivery starts it over."""
        change = transition(TaskStatus.RETRYING, now_iso=ids.now_iso(),
                            updates={"lease_until": None, "lease_owner": None, "due_at": ids.now_iso()},
                            guard=lambda t: t.attempt == task.attempt and t.lease_owner == task.lease_owner)
        try:
            self.store.record(task.id, EventType.RETRYING,
                              {"attempt": task.attempt, "reason": STOPPING, "retry_in_seconds": 0, "final": False},
                              change=change)
        except Exception:  # its lease ends all the same, and the next delivery takes the run over
            logger.exception("could not hand the task back", extra={"task_id": task.id})

    def _others_with(self, model: str) -> bool:
        """Another live agent has `model` installed (read from the registry: only for a model this one lacks)."""
        return any(agent["agent_id"] != self.id and any(same(model, m.get("name", "")) for m in
                                                         agent.get("models", {}).get("installed", []))
                   for agent in self.registry.live())

    def _others_with_comfyui(self) -> bool:
        return any(agent["agent_id"] != self.id and (agent.get("comfyui") or {}).get("up")
                   for agent in self.registry.live())

    # ------------------------------------------------------------------ the shared queue
    def _receive_tasks(self) -> None:
        while not self.stopping.is_set():
            if not self._task_slots.acquire(timeout=0.5):
                continue
            try:
                messages = queues.receive(self.queue_url, max_messages=1,
                                          wait_seconds=self.settings.agent_receive_wait_seconds,
                                          visibility_seconds=self.settings.lease_seconds)
            except Exception:
                logger.exception("receive failed")
                messages = []
                self.stopping.wait(1)
            if not messages:
                self._task_slots.release()
                continue
            message = messages[0]
            if self.stopping.is_set():  # received while stopping: visible again at once for another agent
                queues.delay_redelivery(self.queue_url, message["ReceiptHandle"], 0)
                self._task_slots.release()
                return
            self._start_thread(self._deliver_message, message)

    def _deliver_message(self, message: dict[str, Any]) -> None:
        message_id, handle = message["MessageId"], message["ReceiptHandle"]
        self.heartbeat.hold(message_id, handle)

        def postpone(seconds: int) -> None:
            self.heartbeat.release(message_id,
                                   lambda: queues.delay_redelivery(self.queue_url, handle, seconds))

        try:
            try:
                body = TaskMessage.from_json(message["Body"])
            except InvalidMessage:
                logger.error("unreadable task message", extra={"message_id": message_id})
                postpone(0)  # back until SQS moves it to the dead-letter queue
                return
            count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
            delivery = Delivery(message=body, receive_count=count, postpone=postpone,
                                track=self._tracker(message_id, lambda: postpone(0)))
            if self._run("task", delivery) and message_id not in self._handed_back:
                queues.acknowledge(self.queue_url, handle)
        finally:
            self.heartbeat.release(message_id)
            self._task_slots.release()

    # ------------------------------------------------------------------ this agent's inbox
    def _read_inbox(self) -> None:
        while not self.stopping.wait(self.settings.agent_inbox_seconds):
            try:
                commands = self.inbox.pending(self.id)
            except Exception:
                logger.exception("reading the inbox failed")
                continue
            now = time.monotonic()
            for command in commands:
                with self._lock:
                    if (command.task_id in self._commands_busy
                            or self._commands_not_before.get(command.task_id, 0) > now):
                        continue
                if not self._command_slots.acquire(blocking=False):
                    break
                with self._lock:
                    self._commands_busy.add(command.task_id)
                self._start_thread(self._deliver_command, command)

    def _deliver_command(self, command: InboxCommand) -> None:
        task_id = command.task_id
        message = TaskMessage(task_id=task_id, owner=command.owner, attempt=command.attempt)
        try:
            with self._lock:
                self._command_deliveries[task_id] += 1
                count = self._command_deliveries[task_id]
            if count > self.settings.max_receive_count:  # the inbox's own dead-lettering
                fail_exhausted(self.store, message)
            else:
                def postpone(seconds: int) -> None:
                    with self._lock:
                        self._commands_not_before[task_id] = time.monotonic() + seconds

                self._run("command", Delivery(message=message, receive_count=count, postpone=postpone,
                                              track=self._tracker(task_id, lambda: None)))
            task = self.store.get(task_id)
            if task is None or task.status.terminal or task.attempt != command.attempt:
                self.inbox.remove(self.id, task_id)
                with self._lock:
                    self._command_deliveries.pop(task_id, None)
                    self._commands_not_before.pop(task_id, None)
        except Exception:
            logger.exception("command failed", extra={"task_id": task_id})
        finally:
            with self._lock:
                self._commands_busy.discard(task_id)
            self._command_slots.release()

    # ------------------------------------------------------------------ one delivery
    def _run(self, kind: str, delivery: Delivery) -> bool:
        """Run a delivery; True when it is done with (acknowledge its message), False when it comes back."""
        started = time.monotonic()
        outcome = "error"
        try:
            outcome = self.runner.run(delivery)
            return True
        except RetryLater as later:
            outcome = "retry"
            logger.info("delivery comes back later", extra={"task_id": delivery.message.task_id,
                                                            "reason": str(later)})
            return False
        except Exception:  # its message comes back when its lease ends
            logger.exception("delivery failed", extra={"task_id": delivery.message.task_id})
            return False
        finally:
            self.metrics.tasks.labels(kind=kind, outcome=outcome).inc()
            self.metrics.duration.labels(kind=kind).observe(time.monotonic() - started)

    def _tracker(self, key: str, hand_back: Callable[[], None]) -> Callable[[Task | None], None]:
        """The delivery's `track`: the run under way (its lease renewed by the heartbeat), or None when over."""
        def track(task: Task | None) -> None:
            with self._lock:
                if task is None:
                    self._runs.pop(key, None)
                else:
                    self._runs[key] = (task, hand_back)
                self.metrics.in_flight.set(len(self._runs))
            self.heartbeat.running(task, key=key)

        return track

    def _start_thread(self, target: Callable[[Any], None], argument: Any) -> None:
        # Daemon threads: a run still streaming when the grace period ends must not hold the process open.
        threading.Thread(target=target, args=(argument,), daemon=True).start()
