"""The real settings (config.settings), with what a developer's shell lacks filled in with test-only
values: the two secrets, plain http on loopback (the suite's servers, Splice's own), and the suite's connector folder.
No behaviour differs from production."""

import os

os.environ.setdefault("SPLICE_SECRET_KEY", "test-only-secret-key-never-used-outside-the-test-suite")
os.environ.setdefault(
    # A fixed, public test key: the suite must be reproducible; real deployments generate their own.
    "SPLICE_CREDENTIAL_KEYS", "test1:dGVzdC1vbmx5LWtleS0zMi1ieXRlcy1sb25nLSEhISE="
)
# The suite's app servers listen on http://127.0.0.1 (no TLS on loopback).
os.environ.setdefault("SPLICE_ALLOW_INSECURE_LOOPBACK", "1")
# So does Splice itself (the test client, the browser tests' live server): no redirect to https, a deployment
# setting (README). HSTS keeps its production default (it goes out with https answers only);
# tests/test_security_headers.py checks the redirect and HSTS as production has them.
os.environ.setdefault("SPLICE_SSL_REDIRECT", "0")
# The loopback connector (tests/connectors) is loaded like any deployment's extra connector folder,
# in this process and in every worker the tests start.
os.environ.setdefault("SPLICE_CONNECTOR_DIRS", os.path.join(os.path.dirname(__file__), "connectors"))
# Demo CRM (what `make run` serves to try Splice offline) is tested like the rest.
os.environ.setdefault("SPLICE_DEMO_APP", "1")
os.environ.setdefault("SPLICE_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))

from config.settings import *  # noqa: E402, F403

# Hashing test passwords with 1.2M PBKDF2 rounds would dominate the suite's run time; Django's own
# test docs recommend a fast hasher here. Every other setting is the real one.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
