"""Command line entry point: ``drplan emulator`` / ``python -m drplan.emulator``.

The socket is bound here (not by uvicorn) so that with ``--port 0`` the real port is known before the
``drplan emulator listening on http://HOST:PORT`` line is printed; launchers wait for exactly that line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .app import EmulatorApp
from .config import ConfigError, load_config
from .faults import ConnectionRegistry

LISTENING_PREFIX = "drplan emulator listening on "


def make_protocol_class(registry: ConnectionRegistry) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, registering each connection so the app can drop it (``faults.drop_rate``)."""

    class DroppableH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            registry.register(self.client, transport)

        def connection_lost(self, exc: Exception | None) -> None:
            registry.unregister(self.client, self.transport)
            super().connection_lost(exc)

    return DroppableH11Protocol


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    family, type_, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, type_, proto)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def write_url_file(path: Path, url: str) -> None:
    """Write atomically (temp file in the same directory, then ``os.replace``)."""
    path = path.resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(url + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drplan emulator",
        description="Run the local Document Intelligence / Form Recognizer copy emulator.",
    )
    parser.add_argument("--config", required=True, type=Path, help="emulator TOML file (see drplan/emulator/README.md)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", default=0, type=int, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument("--url-file", type=Path, help="also write the base URL to this file (atomically)")
    parser.add_argument(
        "--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"), help="server log level (stderr)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGINT/SIGTERM. Returns the process exit code (2: bad arguments or config)."""
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"drplan emulator: error: {exc}", file=sys.stderr)
        return 2
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        print(f"drplan emulator: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    registry = ConnectionRegistry()
    app = EmulatorApp(config, connections=registry)
    server_config = uvicorn.Config(
        app,
        log_level=args.log_level,
        access_log=False,
        lifespan="off",
        proxy_headers=False,  # scope["client"] must be the real peer: dropped connections are found by it
        http=make_protocol_class(registry),
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(server_config)
    url = base_url(sock)
    try:
        if args.url_file is not None:
            write_url_file(args.url_file, url)
        print(f"{LISTENING_PREFIX}{url}", flush=True)
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
