"""Reach the functions of a pipeline over gRPC, starting our own when needed.

``crossplane render`` runs a Function with Docker unless it is annotated
``render.crossplane.io/runtime: Development``, in which case it dials the
annotated target. We support the Development runtime as is and run
function-forge ourselves as a local subprocess (no Docker, no image), so a
render of our Compositions needs nothing but this checkout.
"""

from __future__ import annotations

import atexit
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import IO, Any

import grpc

from forge_dev.paths import RUNTIME_DIR
from forge_dev.render.errors import RenderError, goquote
from forge_dev.server import terminate

ANNOTATION_RUNTIME = "render.crossplane.io/runtime"
ANNOTATION_DEVELOPMENT_TARGET = "render.crossplane.io/runtime-development-target"
RUNTIME_DEVELOPMENT = "Development"
RUNTIME_DOCKER = "Docker"
DEFAULT_DEVELOPMENT_TARGET = "localhost:9443"

OWN_FUNCTION_NAME = "function-forge"
DEFAULT_FUNCTIONS: tuple[dict[str, Any], ...] = (
    {
        "apiVersion": "pkg.crossplane.io/v1",
        "kind": "Function",
        "metadata": {"name": OWN_FUNCTION_NAME},
        "spec": {"package": OWN_FUNCTION_NAME},
    },
)
COMMAND_ENV = "FORGE_RENDER_FUNCTION_COMMAND"  # overrides how function-forge is started
SHUTDOWN_SECONDS = 10.0

_running: weakref.WeakSet[OwnFunctionProcess] = weakref.WeakSet()


def package_repository(package: str) -> str:
    """An OCI reference without its tag or digest."""
    repo = package.split("@", 1)[0]
    head, _, last = repo.rpartition("/")
    if ":" in last:
        last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def is_own_function(fn: Mapping[str, Any]) -> bool:
    """Whether a Function manifest is function-forge (by name or by package)."""
    name = (fn.get("metadata") or {}).get("name", "")
    repo = package_repository(str((fn.get("spec") or {}).get("package", "")))
    return name == OWN_FUNCTION_NAME or repo.rpartition("/")[2] == OWN_FUNCTION_NAME


def default_own_command() -> list[str]:
    """How to start function-forge: ``$FORGE_RENDER_FUNCTION_COMMAND`` or ``python -m forge.main``.

    ``--insecure --address 127.0.0.1:<port>`` is always appended.
    """
    override = os.environ.get(COMMAND_ENV, "").strip()
    return shlex.split(override) if override else [sys.executable, "-m", "forge.main"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnFunctionProcess:
    """function-forge served by a child process on a free loopback port.

    The child's output goes to a temporary log so it does not mix with the
    rendered YAML; its tail is shown if the child dies before it is ready.
    """

    def __init__(self, command: Sequence[str], startup_timeout: float) -> None:
        self.command = list(command)
        self.startup_timeout = startup_timeout
        self.target = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> str:
        """Start the child and wait (bounded) until it answers gRPC; return its target."""
        port = _free_port()
        self.target = f"127.0.0.1:{port}"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(RUNTIME_DIR), env.get("PYTHONPATH", "")) if p
        )
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            [*self.command, "--insecure", "--address", self.target],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        _running.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.target

    def _check_alive(self, deadline: float) -> float:
        """Fail if the child died or time is up; return the seconds left."""
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise RenderError(
                f"cannot start Function {goquote(OWN_FUNCTION_NAME)}: "
                f"it exited with code {self._proc.returncode}: {self._log_tail()}"
            )
        left = deadline - time.monotonic()
        if left <= 0:
            raise RenderError(
                f"cannot start Function {goquote(OWN_FUNCTION_NAME)}: not serving gRPC "
                f"at {self.target} after {self.startup_timeout:g}s: {self._log_tail()}"
            )
        return left

    def _wait_ready(self) -> None:
        """Poll the port with plain TCP first: gRPC's reconnect backoff would add ~1s."""
        deadline = time.monotonic() + self.startup_timeout
        host, _, port = self.target.rpartition(":")
        while True:
            left = self._check_alive(deadline)
            try:
                socket.create_connection((host, int(port)), timeout=min(0.5, left)).close()
                break
            except OSError:
                time.sleep(min(0.02, left))
        with grpc.insecure_channel(self.target) as channel:
            while True:
                left = self._check_alive(deadline)
                try:
                    grpc.channel_ready_future(channel).result(timeout=min(0.2, left))
                    return
                except grpc.FutureTimeoutError:
                    continue

    def _log_tail(self, limit: int = 2000) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        text = self._log.read().decode(errors="replace").strip()
        return text[-limit:] or "(no output)"

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL) and forget it; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate(proc, SHUTDOWN_SECONDS)
        if self._log is not None:
            self._log.close()
            self._log = None
        _running.discard(self)


@atexit.register
def _stop_all() -> None:
    """Last resort: never leave a function process behind when Python exits."""
    for proc in list(_running):
        proc.stop()


class FunctionServers:
    """The running functions of a render, reusable across many renders.

    ``with FunctionServers(functions) as servers: render(..., servers=servers)``
    starts function-forge once (if any Function needs it) and dials every
    Development-runtime Function. ``functions=None`` means function-forge only;
    then any pipeline step whose functionRef name ends in ``function-forge``
    runs it.
    """

    def __init__(
        self,
        functions: Sequence[Mapping[str, Any]] | None = None,
        *,
        own_command: Sequence[str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.implicit = functions is None
        self.functions = list(DEFAULT_FUNCTIONS if functions is None else functions)
        self.own_command = list(own_command or default_own_command())
        self.startup_timeout = startup_timeout
        self._targets: dict[str, str] = {}
        self._own: OwnFunctionProcess | None = None
        self._started = False

    def __enter__(self) -> FunctionServers:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _runtime_target(self, fn: Mapping[str, Any]) -> str | None:
        """None for function-forge, the Development target of another Function, or an error.

        function-forge is always started from this checkout, even when annotated
        Development (as our examples are, for crossplane render): a server left
        running on the target could be stale code and render the wrong thing.
        """
        if is_own_function(fn):
            return None
        name = (fn.get("metadata") or {}).get("name", "")
        annotations = (fn.get("metadata") or {}).get("annotations") or {}
        runtime = annotations.get(ANNOTATION_RUNTIME, "")
        if runtime == RUNTIME_DEVELOPMENT:
            return annotations.get(ANNOTATION_DEVELOPMENT_TARGET) or DEFAULT_DEVELOPMENT_TARGET
        if runtime not in ("", RUNTIME_DOCKER):
            raise RenderError(
                f"cannot get runtime for Function {goquote(name)}: unsupported "
                f"{goquote(ANNOTATION_RUNTIME)} annotation value {goquote(runtime)} "
                "(unknown runtime)"
            )
        raise RenderError(
            f"function {goquote(name)}: cannot run locally: only Development-runtime functions "
            "and function-forge are supported by forge-render "
            "(use crossplane composition render with Docker for this one)"
        )

    def start(self) -> None:
        """Resolve every Function's runtime, then start function-forge if one needs it."""
        if self._started:
            return
        plan = {
            (fn.get("metadata") or {}).get("name", ""): self._runtime_target(fn)
            for fn in self.functions
        }
        try:
            if any(target is None for target in plan.values()):
                self._own = OwnFunctionProcess(self.own_command, self.startup_timeout)
                own_target = self._own.start()
                plan = {name: target or own_target for name, target in plan.items()}
            self._targets = {name: str(target) for name, target in plan.items()}
        except BaseException:
            self.stop()
            raise
        self._started = True

    def stop(self) -> None:
        """Stop function-forge; safe to call twice."""
        self._targets.clear()
        if self._own is not None:
            self._own.stop()
            self._own = None
        self._started = False

    def target(self, name: str) -> str:
        """The gRPC target serving a Function name."""
        return self._targets[self._resolve(name)]

    def _resolve(self, name: str) -> str:
        if name in self._targets:
            return name
        if self.implicit and name.endswith(OWN_FUNCTION_NAME):
            return OWN_FUNCTION_NAME
        raise RenderError(
            f"unknown Function {goquote(name)} - does it exist in your Functions file?"
        )
