"""Local processes of one run: started in their own session, logged to files, stopped by id."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class HarnessError(RuntimeError):
    """Something the harness needed did not happen; the message says what and where to look."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    what: str,
    check: Callable[[], object],
    *,
    timeout: float,
    interval: float = 0.5,
    alive: Callable[[], None] | None = None,
):
    """Call ``check`` until it returns something truthy; raise naming ``what`` on timeout.

    ``alive`` is called between attempts and raises when a process it watches has died,
    so a crash is reported at once instead of as a timeout; so does a HarnessError from
    ``check`` itself. Any other error is retried and named if time runs out.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except HarnessError:
            raise
        except Exception as exc:
            last = exc
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            detail = f" (last error: {last})" if last else ""
            raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


@dataclass
class Proc:
    """One local process: its command, its log file, its Popen."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    popen: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> Proc:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        """Raise with the tail of the log if the process has exited."""
        if self.popen is not None and self.popen.poll() is not None:
            raise HarnessError(
                f"{self.name} exited with code {self.popen.returncode}; "
                f"last lines of {self.log}:\n{self.tail()}"
            )

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM this process (and its own process group), SIGKILL after ``grace``."""
        if self.popen is None or self.popen.poll() is not None:
            return
        pgid = self.popen.pid  # start_new_session: the group is ours alone
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.popen.wait(5)


@dataclass
class Procs:
    """The processes of one run, stopped in reverse start order."""

    items: list[Proc] = field(default_factory=list)

    def start(self, proc: Proc) -> Proc:
        self.items.append(proc.start())
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.items):
            proc.stop()
        self.items.clear()

    def check_alive(self) -> None:
        for proc in self.items:
            proc.check_alive()
