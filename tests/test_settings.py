"""Configuration fails loudly and plainly when a production secret is missing."""

import os
import subprocess
import sys

from tests.conftest import ROOT


def _manage(*args: str, **env_overrides: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPLICE_") and k != "DJANGO_SETTINGS_MODULE"}
    env.update({k: v for k, v in env_overrides.items() if v is not None})
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_missing_secret_key_without_debug_stops_with_one_line():
    result = _manage("check")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "Splice configuration error: SPLICE_SECRET_KEY is not set. It signs sessions and password-reset links. "
        "Set it in the environment (or SPLICE_DEBUG=1 for development)."
    ]


def test_debug_runs_without_a_secret_key():
    result = _manage("check", SPLICE_DEBUG="1", SPLICE_VAR_DIR=str(ROOT / "var" / "test"))
    assert result.returncode == 0, result.stderr


def test_bad_boolean_is_explained():
    result = _manage("check", SPLICE_DEBUG="maybe")
    assert result.returncode == 1
    assert "SPLICE_DEBUG must be one of" in result.stderr
    assert "Traceback" not in result.stderr
