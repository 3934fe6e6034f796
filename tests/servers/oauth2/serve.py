"""Start the test authorization server: fresh database, seed data, threaded WSGI server.

Run as ``python -m tests.servers.oauth2.serve --port-file FILE`` with ``OAUTH2_SERVER_DB_DIR``
set (see settings.py and seed.py for the other variables). Any database left in that
directory is deleted first: every start is a clean provider.

``runserver`` is not used because its listen backlog of 10 drops connections in a burst
of a few hundred; this is Django's own threaded WSGI server with a larger backlog.
"""

import os

from tests.servers._http import HOST, parse_args, serve


def _fresh_database(db_dir: str) -> None:
    os.makedirs(db_dir, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        path = os.path.join(db_dir, f"oauth2-server.sqlite3{suffix}")
        if os.path.exists(path):
            os.remove(path)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    # Forced, not setdefault: under pytest-django the parent exports Splice's settings.
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.servers.oauth2.settings"
    _fresh_database(os.environ["OAUTH2_SERVER_DB_DIR"])

    import django
    from django.core.management import call_command
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)

    from tests.servers.oauth2.seed import seed

    seed()

    class Server(ThreadedWSGIServer):
        request_queue_size = 1024

    server = Server((HOST, args.port), WSGIRequestHandler, allow_reuse_address=True)
    server.set_app(get_wsgi_application())
    serve(server, args.port_file)


if __name__ == "__main__":
    main()
