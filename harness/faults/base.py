"""The fault life cycle: inject, record, heal exactly once, whatever happens in between."""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from harness.history import FAULT_END, FAULT_START, NEMESIS, History

log = logging.getLogger("harness.faults")


class Fault:
    """A fault injected on construction by the Nemesis and healed by ``heal()`` or on ``with`` exit.

    Subclasses implement ``_inject`` and ``_heal``; the base class records both in the history and
    makes healing idempotent so that the finalizer can always call it again.
    """

    kind = "fault"
    # True for faults that take effect only when their injection returns (a database that takes a while
    # to stop): their start is recorded then, so failover is not measured from before the fault was real.
    effective_after_inject = False

    def __init__(self, target: str, **details: Any) -> None:
        self.target = target
        self.details = details
        self.fault_id = -1
        self.healed = False
        self.heal_error: BaseException | None = None
        self._history: History | None = None
        self._lock = threading.Lock()

    def _inject(self) -> None:
        raise NotImplementedError

    def _heal(self) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"fault": self.kind, "target": self.target, "fault_id": self.fault_id, **self.details}

    def inject(self, history: History, fault_id: int) -> Fault:
        self._history, self.fault_id = history, fault_id
        if not self.effective_after_inject:
            history.record(NEMESIS, "info", FAULT_START, self.describe(), node=self.target)
        log.info("fault %s on %s: start", self.kind, self.target)
        try:
            self._inject()
        except BaseException:
            if self.effective_after_inject:
                history.record(NEMESIS, "info", FAULT_START, self.describe(), node=self.target)
            self.heal()
            raise
        if self.effective_after_inject:
            history.record(NEMESIS, "info", FAULT_START, self.describe(), node=self.target)
        return self

    def heal(self) -> None:
        with self._lock:
            if self.healed:
                return
            self.healed = True
        try:
            self._heal()
        except BaseException as exc:
            self.heal_error = exc
            log.error("fault %s on %s: heal failed: %s", self.kind, self.target, exc)
            raise
        finally:
            if self._history is not None:
                self._history.record(NEMESIS, "info", FAULT_END, self.describe(), node=self.target)
            log.info("fault %s on %s: healed", self.kind, self.target)

    def __enter__(self) -> Fault:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.heal()


class Nemesis:
    """Injects faults into one history and remembers them, so that teardown heals every one.

    As a context manager it heals what is still open on exit, and raises if a fault failed to heal
    (unless an error is already on its way out).
    """

    def __init__(self, history: History) -> None:
        self.history = history
        self.injected: list[Fault] = []
        self._lock = threading.Lock()

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            fault_id = len(self.injected)
            self.injected.append(fault)
        return fault.inject(self.history, fault_id)

    def heal_all(self) -> list[str]:
        """Heal every fault still open, newest first; return the errors (teardown must go on)."""
        errors = []
        for fault in reversed(self.injected):
            try:
                fault.heal()
            except Exception as exc:
                errors.append(f"{fault.kind} on {fault.target}: {exc}")
        return errors

    def describe(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self.injected]

    def __enter__(self) -> Nemesis:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        errors = self.heal_all()
        if errors and exc is None:
            raise RuntimeError(f"faults did not heal: {'; '.join(errors)}")
