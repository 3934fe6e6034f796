"""Plumbing shared by the stdlib test servers (OAuth 1.0a provider and fault-injection API).

Each server runs as its own process, binds 127.0.0.1 only, and reports the port it got
(port 0 lets the kernel pick a free one, so parallel runs never race for a port) by
writing it to a file that the pytest fixture polls. A large listen backlog and daemon
threads let it take a few hundred concurrent connections and exit at once on SIGTERM,
even while some handler threads are deliberately hanging.
"""

import argparse
import json
import os
import select
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"


class LoopbackHTTPServer(ThreadingHTTPServer):
    """Threaded server with a listen backlog big enough for bursts of ~200 connections."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


class Handler(BaseHTTPRequestHandler):
    """Request handler with small helpers for JSON, HTML, forms and redirects.

    HTTP/1.1 keep-alive matches what real APIs do; it needs every response to carry a
    Content-Length and every request body to be read, which `body` and `respond` ensure.
    """

    protocol_version = "HTTP/1.1"
    server_version = "SpliceTestServer/1.0"

    _body: bytes | None = None

    @property
    def body(self) -> bytes:
        if self._body is None:
            length = int(self.headers.get("Content-Length") or 0)
            self._body = self.rfile.read(length) if length else b""
        return self._body

    @property
    def url_path(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

    def query_value(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def json_body(self):
        if not self.body:
            return {}
        return json.loads(self.body)

    def respond(self, status: int, body: bytes = b"", content_type: str = "text/plain", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, payload, headers=None):
        self.respond(status, json.dumps(payload).encode(), "application/json", headers)

    def send_html(self, status: int, html: str):
        self.respond(status, html.encode(), "text/html; charset=utf-8")

    def redirect(self, location: str):
        self.respond(302, b"", headers={"Location": location})

    def route(self) -> None:
        """Answer the current request; subclasses implement it for every method."""
        raise NotImplementedError

    def _dispatch(self) -> None:
        # Read the body before routing so an early error response never desyncs keep-alive.
        self._body = None
        _ = self.body
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    def log_message(self, format, *args):
        """Quiet access log: the fixture keeps stderr for start-up failures and tracebacks."""


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    return parser.parse_args()


def write_port_file(path: str | None, port: int) -> None:
    """Say the port once listening: atomically to `path` (a poller never reads half of it), and to the pipe
    SPLICE_TEST_READY_FD names when the tests' fixture started us (it blocks on that pipe until then)."""
    print(f"listening on http://{HOST}:{port}", flush=True)
    if path:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as fh:
            fh.write(str(port))
        os.replace(tmp, path)
    if ready_fd := os.environ.get("SPLICE_TEST_READY_FD"):
        with os.fdopen(int(ready_fd), "w") as ready:
            ready.write(str(port))


def exit_with_parent() -> None:
    """Exit when the process that started us dies, so a killed pytest leaves no server behind (a pidfd
    becomes readable when its process ends)."""
    parent = os.getppid()

    def watch():
        try:
            parent_fd = os.pidfd_open(parent)
        except ProcessLookupError:
            os._exit(0)
        if os.getppid() == parent:  # not gone before the pidfd was opened
            select.select([parent_fd], [], [])
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(server: socketserver.BaseServer, port_file: str | None) -> None:
    """Serve until stopped, once the port is told; exits with the process that started it."""
    exit_with_parent()
    write_port_file(port_file, server.server_address[1])
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()
