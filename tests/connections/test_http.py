"""The outgoing HTTP session: a health check's session, shared by the checks of many connections in a row,
keeps their kept-alive connections but never one app's cookies for another connection's request."""

from __future__ import annotations

import threading

import pytest

from connections.http import new_session
from tests.servers._http import HOST, Handler, LoopbackHTTPServer


class CookieApp(Handler):
    """/login sets a session cookie, as some apps do after a successful call; /whoami says which cookie came."""

    def route(self):
        if self.url_path == "/login":
            return self.respond(200, b"ok", headers={"Set-Cookie": "app_session=ada-session; Path=/"})
        return self.send_json(200, {"cookie": self.headers.get("Cookie", "")})


@pytest.fixture
def cookie_app():
    server = LoopbackHTTPServer((HOST, 0), CookieApp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_shared_session_never_carries_one_connections_cookies_to_another(cookie_app):
    with new_session(shared=True) as session:
        assert session.get(f"{cookie_app}/login").ok  # connection A's check
        assert session.get(f"{cookie_app}/whoami").json() == {"cookie": ""}  # connection B's check
        assert not session.cookies


def test_a_sessions_own_requests_keep_cookies_as_browsers_do(cookie_app):
    """The reason the shared session differs: an ordinary session does keep them."""
    with new_session() as session:
        session.get(f"{cookie_app}/login")
        assert session.get(f"{cookie_app}/whoami").json() == {"cookie": "app_session=ada-session"}
