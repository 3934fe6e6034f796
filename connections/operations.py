"""The operation call: a connector's trigger, action or test request, resolved with its inputs (the catalog's
placeholder rules: a value cannot leave the app's base URL), sent through a connection's client (auth, refresh,
the authorized origins, the egress policy), and classified by the status machine.

    result = connection_client(connection).call("create_item", {"name": "Ada"})
    result.ok, result.status, result.data, result.verdict, result.duration_ms
    outcome = connection_client(connection).check()      # the connection's test: a CheckOutcome

Nothing else turns a spec's request into HTTP: Test now and the health checks use `check`, job steps `call`.
Neither records anything but refreshed tokens: the caller gives the outcome to the one recorder
(connections.services.connection_record_outcomes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from connections.catalog import InvalidInput, UnknownOperation
from connections.problems import RECOMMENDATIONS, ConnectionProblem, Kind, Verdict
from connections.status import CheckOutcome, classify_settings_error

__all__ = ["OperationResult", "connection_check", "operation_call"]


@dataclass(frozen=True)
class OperationResult:
    """What a call of an operation got: the HTTP status (None when no answer came), the JSON it answered (None
    when it was not JSON), the verdict (None when it worked) and how long it took."""

    status: int | None
    data: Any
    verdict: Verdict | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.verdict is None


def _input_problem(exc: InvalidInput) -> Verdict:
    return Verdict(Kind.OTHER, f"This step's input cannot be used: {exc}.",
                   recommendations=["Correct the step's input in the recipe."])


def _json(response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _sent(client, resolve, headers=None):
    """Resolve a request (`resolve()`, the catalog's placeholder rules) and send it through `client` with extra
    `headers`: (the request, the response or None, the verdict of what stopped it or None, how long it took in
    ms)."""
    started = time.monotonic()
    resolved = None
    try:
        try:
            resolved = resolve()
        except InvalidInput as exc:
            raise ConnectionProblem(_input_problem(exc)) from None
        except ValueError as exc:  # the catalog's InvalidSetting, or a path that would leave the base URL
            raise ConnectionProblem(classify_settings_error(exc)) from None
        response, verdict = client.send(resolved, headers=headers), None
    except ConnectionProblem as problem:
        response, verdict = None, problem.verdict
    return resolved, response, verdict, int((time.monotonic() - started) * 1000)


def operation_call(client, operation_key: str, inputs: dict[str, Any], *,
                   headers: dict[str, str] | None = None) -> OperationResult:
    """Send one of the connector's triggers or actions with these inputs (and extra `headers`: an idempotency
    key) through `client` (a ConnectionClient), as the connection's user."""
    spec, connection = client.spec, client.connection
    try:
        operation = spec.operation(operation_key)
    except UnknownOperation:
        return OperationResult(None, None, Verdict(
            Kind.OTHER, f"{spec.name} has no trigger or action {operation_key!r}.",
            recommendations=["Choose another trigger or action."]), 0)
    _, response, verdict, took = _sent(client, lambda: spec.operation_request(
        operation_key, connection.settings, inputs, connection.environment, method=connection.auth_method,
        allow_insecure_loopback=settings.SPLICE_ALLOW_INSECURE_LOOPBACK), headers)
    if response is None:
        return OperationResult(verdict.status_code, None, verdict, took)
    verdict = client.verdict(response)
    if verdict is None and not 200 <= response.status_code < 300:
        verdict = Verdict(Kind.OTHER, f"{spec.name} answered “{operation.name}” with HTTP {response.status_code}.",
                          status_code=response.status_code, recommendations=RECOMMENDATIONS[Kind.OTHER])
    return OperationResult(response.status_code, _json(response), verdict, took)


def connection_check(client) -> tuple[CheckOutcome, int]:
    """The connector's test request through `client`, what it says (the identity it connected as, or the
    verdict), and how long it took in ms."""
    spec, connection = client.spec, client.connection
    resolved, response, verdict, took = _sent(client, lambda: spec.test_request(
        connection.settings, connection.environment, method=connection.auth_method,
        allow_insecure_loopback=settings.SPLICE_ALLOW_INSECURE_LOOPBACK))
    if response is None:
        return CheckOutcome(ok=False, verdict=verdict, status_code=verdict.status_code), took
    verdict = client.verdict(response, test=True)
    if verdict is None and response.status_code not in resolved.expected_status:
        verdict = Verdict(Kind.OTHER, f"{spec.name} answered the connection test with HTTP {response.status_code}.",
                          status_code=response.status_code, recommendations=RECOMMENDATIONS[Kind.OTHER])
    if verdict is not None:
        return CheckOutcome(ok=False, verdict=verdict, status_code=response.status_code), took
    identity = spec.test.identity_from(_json(response)) or ""
    return CheckOutcome(ok=True, identity=identity[:255], status_code=response.status_code), took
