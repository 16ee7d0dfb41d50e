"""Start the emulator as a subprocess (tests, ``drplan demo``, benchmarks).

``start_emulator`` runs ``python -m drplan.emulator`` with the current interpreter, waits for the
``drplan emulator listening on URL`` line (``URL``: the admin API's origin) and the ``drplan emulator accounts
{...}`` line after it (each account's own origin), and returns an :class:`EmulatorProcess`; use it as a context
manager (or call ``stop()``) so no process outlives its user. This module imports no server code, so launching is
cheap.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.request import Request, urlopen

LISTENING_PREFIX = "drplan emulator listening on "  # kept equal to server.LISTENING_PREFIX (a test checks)
ACCOUNTS_PREFIX = "drplan emulator accounts "  # kept equal to server.ACCOUNTS_PREFIX (a test checks)
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class EmulatorStartError(RuntimeError):
    """The emulator process exited or stayed silent instead of announcing its URL; the message has its stderr."""


class EmulatorProcess:
    """A running emulator subprocess."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        url: str,
        stderr: IO[bytes],
        reader: threading.Thread | None = None,
        endpoints: dict[str, str] | None = None,
    ) -> None:
        self.process = process
        self.url = url  # the admin API's origin (``/_emulator/...``)
        self.endpoints: dict[str, str] = dict(endpoints or {})  # account name -> its origin
        self._stderr = stderr
        self._reader = reader

    @property
    def pid(self) -> int:
        return self.process.pid

    def account_url(self, name: str) -> str:
        """The endpoint of account ``name``: its own origin ``http://HOST:PORT`` with no path, what a client puts where
        an Azure endpoint (``https://<resource>.cognitiveservices.azure.com``) would go. KeyError for an unknown
        account."""
        if name not in self.endpoints:  # not announced on stdout: ask the admin API once
            with urlopen(Request(f"{self.url}/_emulator/accounts"), timeout=10) as response:  # our own emulator's admin API
                accounts = json.loads(response.read())["accounts"]
            self.endpoints.update({a["name"]: a["endpoint"] for a in accounts if a.get("endpoint")})
        return self.endpoints[name]

    def stderr_text(self) -> str:
        """Everything the process wrote to stderr so far."""
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def stop(self, timeout: float = 10.0) -> int | None:
        """Terminate (SIGTERM), wait, kill if it does not stop in ``timeout`` seconds. Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)  # it ends at EOF, now that the process is gone
        if self.process.stdout is not None:
            self.process.stdout.close()
        if not self._stderr.closed:
            self._stderr.close()
        return self.process.returncode

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def start_emulator(
    config_path: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 0,
    extra_args: Sequence[str] = (),
    *,
    timeout: float = 30.0,
) -> EmulatorProcess:
    """Start ``python -m drplan.emulator --config CONFIG --host HOST --port PORT *extra_args`` and wait for its URL."""
    cmd = [sys.executable, "-m", "drplan.emulator", "--config", str(config_path), "--host", host, "--port", str(port), *extra_args]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    stderr = tempfile.TemporaryFile()
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env)
    lines: queue.Queue[bytes | None] = queue.Queue()

    def pump() -> None:  # keep reading stdout so the child can never block on a full pipe
        assert process.stdout is not None
        try:
            for line in process.stdout:
                lines.put(line)
        except (OSError, ValueError):  # stdout closed under us by stop()
            pass
        lines.put(None)

    reader = threading.Thread(target=pump, name=f"drplan-emulator-stdout-{process.pid}", daemon=True)
    reader.start()
    emulator = EmulatorProcess(process, "", stderr, reader)
    try:
        while True:
            line = lines.get(timeout=timeout)
            if line is None:
                process.wait(timeout)
                raise EmulatorStartError(
                    f"the emulator exited with code {process.returncode} before listening:\n{emulator.stderr_text().strip()}"
                )
            text = line.decode("utf-8", "replace").strip()
            if text.startswith(LISTENING_PREFIX):
                emulator.url = text[len(LISTENING_PREFIX) :].strip()
            elif text.startswith(ACCOUNTS_PREFIX) and emulator.url:
                emulator.endpoints = json.loads(text[len(ACCOUNTS_PREFIX) :])
                return emulator
    except queue.Empty:
        emulator.stop()
        raise EmulatorStartError(f"the emulator did not announce its URL within {timeout:g} s") from None
    except BaseException:
        emulator.stop()
        raise
