"""A function server in its own process on a loopback port, for the benchmark and tests.

The child is started exactly as Crossplane's runtime would start it (the SDK's
command line), its stdout and stderr are kept apart in files so a test can read
its logs, and it is always stopped: SIGTERM, then SIGKILL after a bounded wait.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from forge_dev.paths import ROOT, RUNTIME_DIR

FORGE = ("-m", "forge.main")
FLOOR = ("-m", "bench.floor")
STOP_SECONDS = 10.0


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m <module> --address 127.0.0.1:<port> <flags>`` as a child process.

    Use as a context manager; ``started`` is the monotonic time of ``Popen``,
    the start of the cold-start clock.
    """

    def __init__(
        self,
        module: tuple[str, ...] = FORGE,
        *flags: str,
        port: int = 0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = [sys.executable, *module, *flags]
        self.extra_env = dict(env or {})
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.started = 0.0
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        self._err: IO[bytes] | None = None
        self._kept = ("", "")  # stdout, stderr of a stopped child

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the child; does not wait (see ``wait_listening``)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(RUNTIME_DIR), env.get("PYTHONPATH", "")) if p
        )
        env.pop("PYTHONPROFILEIMPORTTIME", None)
        env.update(self.extra_env)
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [*self.argv, "--address", self.address],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
        )

    def wait_listening(self, timeout: float = 30.0) -> None:
        """Poll the port (plain TCP, so gRPC's reconnect backoff adds nothing)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"server exited before listening: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"server not listening after {timeout}s") from None
                time.sleep(0.005)

    def alive(self) -> bool:
        """Whether the child is still running."""
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        """Resident set size of the child, from /proc (Linux)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc status")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the child has used, from /proc (Linux)."""
        assert self.proc is not None
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat.rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def output(self) -> str:
        """Everything the child wrote so far, stdout then stderr."""
        return self.stdout() + self.stderr()

    def stdout(self) -> str:
        """What the child wrote to stdout so far."""
        return _read(self._out) if self._out is not None else self._kept[0]

    def stderr(self) -> str:
        """What the child wrote to stderr so far."""
        return _read(self._err) if self._err is not None else self._kept[1]

    def stop(self) -> str:
        """Stop the child (SIGTERM, then SIGKILL); return its output. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None:
            terminate(proc, STOP_SECONDS)
        if self._out is not None:
            self._kept = (self.stdout(), self.stderr())
        for handle in (self._out, self._err):
            if handle is not None:
                handle.close()
        self._out = self._err = None
        return self.output()


def terminate(proc: subprocess.Popen, seconds: float) -> None:
    """SIGTERM a child, SIGKILL it if it is still there after ``seconds``; reap it."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _read(handle: IO[bytes]) -> str:
    handle.flush()
    handle.seek(0)
    text = handle.read().decode(errors="replace")
    handle.seek(0, os.SEEK_END)
    return text
