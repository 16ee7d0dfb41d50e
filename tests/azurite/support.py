"""Azurite (the Azure Storage emulator, npm package pinned in tests/azurite/package.json) for the remote-state tests.

The ``azurite`` fixture installs Azurite with ``npm ci`` when ``node_modules`` is missing (so ``.ci/run`` on a fresh
clone needs nothing but Node.js and npm on the machine; without npm the tests FAIL, they do not skip), starts one
``azurite-blob`` process for the whole session on 127.0.0.1 and a port the OS picks, in memory, and stops it at the
end. Every test gets its own container, so tests never see each other's blobs.

Imported by test modules as ``from azurite.support import ...`` (tests/ is on sys.path, and this folder is a
namespace package); one process serves every module that uses it.
"""

from __future__ import annotations

import atexit
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BIN = HERE / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development account key: public, documented by Microsoft, useless outside Azurite.
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Azurite:
    blob_endpoint: str  # http://127.0.0.1:PORT/devstoreaccount1

    @property
    def account_url(self) -> str:
        return self.blob_endpoint

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
                f"BlobEndpoint={self.blob_endpoint};")

    @staticmethod
    def new_container() -> str:
        return "t" + uuid.uuid4().hex[:20]


def install() -> None:
    """``npm ci`` in tests/azurite when azurite-blob is missing."""
    if BIN.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("the remote-state tests need Azurite, installed with npm from tests/azurite/package.json, but "
                    "npm is not on PATH: install Node.js 18+ with npm (e.g. apt-get install nodejs npm) and run again",
                    pytrace=False)
    proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not BIN.exists():
        pytest.fail(f"npm ci in {HERE} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}",
                    pytrace=False)


class _Process:
    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="drplan-azurite-"))
        self.log = self.workdir / "azurite.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(BIN), "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence",
                 "--skipApiVersionCheck", "--loose", "--silent"],
                cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            m = re.search(r"listens on (http://127\.0\.0\.1:\d+)", self.log.read_text(errors="replace"))
            if m:
                self.azurite = Azurite(f"{m.group(1)}/{ACCOUNT}")
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = self.log.read_text(errors="replace")
                self.stop()
                pytest.fail(f"azurite-blob did not start (exit {self.proc.returncode}):\n{text[-4000:]}",
                            pytrace=False)
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                # It waits for idle keep-alive connections of clients to close; in memory, it keeps nothing to save.
                self.proc.wait(0.3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)


_shared: _Process | None = None


def _stop_shared() -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None


@pytest.fixture(scope="session")
def azurite() -> Azurite:
    """One Azurite for the session (shared by every module that imports this fixture), stopped at the end."""
    global _shared
    if _shared is None:
        install()
        _shared = _Process()
        atexit.register(_stop_shared)  # the last user's finalizer normally stops it first
    yield _shared.azurite
    _stop_shared()
