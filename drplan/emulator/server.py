"""Command line entry point: ``drplan emulator`` / ``python -m drplan.emulator``.

The sockets are bound here (not by uvicorn) so that with ``--port 0`` the real ports are known before the
``drplan emulator listening on http://HOST:PORT`` line is printed; launchers wait for exactly that line. Besides the
admin socket (``--port``) every account gets a listening socket of its own (its ``port`` in the config, else a free
one): an account is an origin, ``http://HOST:ACCOUNTPORT``, as a real resource is a host. One uvicorn server serves
all the sockets; the app tells the accounts apart by ``Host`` (``EmulatorApp.bind_origin``). Right after the
listening line the process prints ``drplan emulator accounts {"name": "http://HOST:PORT", ...}`` (one JSON object,
one line), which ``launch.start_emulator`` reads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .app import EmulatorApp
from .config import ConfigError, load_config
from .faults import ConnectionRegistry

LISTENING_PREFIX = "drplan emulator listening on "
ACCOUNTS_PREFIX = "drplan emulator accounts "


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


def _port(text: str) -> int:
    """A TCP port, 0-65535 (0: any free one); anything else is an argument error, never a random port."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535; 0 picks a free one)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drplan emulator",
        description="Run the local emulator of Document Intelligence / Form Recognizer, Content Understanding and Language authoring.",
    )
    parser.add_argument("--config", required=True, type=Path, help="emulator TOML file (see drplan/emulator/README.md)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", default=0, type=_port, help="port of the admin API (/_emulator/); 0 picks a free one (default)")
    parser.add_argument("--url-file", type=Path, help="also write the admin base URL to this file (atomically)")
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
    sockets: list[socket.socket] = []
    accounts: dict[str, socket.socket] = {}
    try:
        try:
            sock = bind_socket(args.host, args.port)
            sockets.append(sock)
            for name, account in config.accounts.items():  # one origin per account: the account is in the host only
                port = account.port or 0
                try:
                    accounts[name] = bind_socket(args.host, port)
                except OSError as exc:
                    print(f"drplan emulator: error: cannot listen on {args.host}:{port} for account {name!r}: {exc.strerror or exc}", file=sys.stderr)
                    return 1
                sockets.append(accounts[name])
        except OSError as exc:
            print(f"drplan emulator: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        return _serve(args, config, sock, accounts, sockets)
    finally:
        for s in sockets:
            s.close()


def _serve(args: argparse.Namespace, config: Any, sock: socket.socket, accounts: dict[str, socket.socket], sockets: list[socket.socket]) -> int:
    registry = ConnectionRegistry()
    url = base_url(sock)
    app = EmulatorApp(config, connections=registry, admin_origins=(url,))
    endpoints = {name: app.bind_origin(base_url(s), name) for name, s in accounts.items()}
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
    if args.url_file is not None:
        try:
            write_url_file(args.url_file, url)
        except (OSError, ValueError) as exc:  # a missing or read-only directory, a NUL in the path
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(f"drplan emulator: error: --url-file {args.url_file}: cannot write it: {reason}", file=sys.stderr)
            return 1
    try:
        print(f"{LISTENING_PREFIX}{url}", flush=True)
        print(f"{ACCOUNTS_PREFIX}{json.dumps(endpoints, separators=(',', ':'))}", flush=True)
        server.run(sockets=sockets)
    except KeyboardInterrupt:
        pass
    return 0
