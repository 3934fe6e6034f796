"""The real settings (config.settings), with the two secrets a developer's shell may lack filled in
with test-only values. No behaviour differs from production."""

import os

os.environ.setdefault("SPLICE_SECRET_KEY", "test-only-secret-key-never-used-outside-the-test-suite")
os.environ.setdefault(
    # A fixed, public test key: the suite must be reproducible; real deployments generate their own.
    "SPLICE_CREDENTIAL_KEYS", "test1:dGVzdC1vbmx5LWtleS0zMi1ieXRlcy1sb25nLSEhISE="
)
os.environ.setdefault("SPLICE_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))

from config.settings import *  # noqa: E402, F403
