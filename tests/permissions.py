"""The permission matrix every view test module runs (after NetBox's ViewTestCases): anonymous → sign-in,
no privilege → 403 that names it, no project access → 404 that tells nothing, allowed → 200.

A module declares its endpoints, built from the objects it tests, and runs one test over the matrix's cells:

    def endpoints(connection) -> dict[str, Endpoint]:
        return {"detail": Endpoint(reverse("connection_detail", args=[connection.pk]),
                                   privilege="connections.view_connection", access=ProjectAccess.VIEW), ...}

    @pytest.mark.parametrize("cell", matrix(endpoints(Connection(pk=1))))
    def test_permission_matrix(permission_matrix, basic_connection, cell):
        permission_matrix(cell, endpoints(basic_connection), hidden=[basic_connection.name])

Everyone in it is a person of the suite's `project` (made by `builder`); tests/conftest.py loads this module
as a plugin, so the fixture is there in every module. `assert_access` checks one answer the same way, for the
pages that do not fit a table.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.roles import ADMIN, BUILTIN_ROLES, VIEWER

__all__ = ["ALLOWED", "ANONYMOUS", "NO_PRIVILEGE", "NO_PROJECT_ACCESS", "Cell", "Endpoint", "assert_access",
           "matrix", "permission_matrix"]

ANONYMOUS = "anonymous"  # → the sign-in page, coming back here afterwards
NO_PRIVILEGE = "no privilege"  # → 403 naming the privilege, though the person may use the project
NO_PROJECT_ACCESS = "no project access"  # → 404, though the person's role has every privilege
ALLOWED = "allowed"  # → 200 (or what the endpoint answers when it works)

# The project access levels from least to most (accounts.models.ProjectAccess values).
LEVELS = ["view_project", "use_project", "manage_project"]


@dataclass(frozen=True)
class Endpoint:
    url: str
    method: str = "get"
    # The privilege (a role's) it needs, as "app_label.codename"; None: any signed-in person.
    privilege: str | None = None
    # The access it needs to the project of the object it is about (a ProjectAccess); None: no one project's.
    access: str | None = None
    data: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    allowed: tuple[int, ...] = (200,)  # what it answers a person who may (a POST may redirect)


@dataclass(frozen=True)
class Cell:
    """One case of the matrix: `name`'s endpoint asked by `who`, expecting `expected`."""

    name: str
    expected: str
    role: str | None = ADMIN  # the person's role
    level: str | None = None  # their access to the project (a ProjectAccess value), None: none


def matrix(endpoints: dict[str, Endpoint], *, no_privilege_role: str | None = VIEWER) -> list:
    """The cells for these endpoints, as pytest params:
    - anonymous, for every endpoint;
    - no privilege, for each needing a privilege that `no_privilege_role` (None: no role at all) lacks: that
      person may use the project, so the 403 is the privilege's;
    - no project access, for each about one project's object: an Admin (every privilege) with no access at all,
      and, where it needs more than viewing, one with the level below the one it needs;
    - allowed: an Admin with exactly the access it needs (use, for an endpoint about no one project).
    """
    held = set(BUILTIN_ROLES[no_privilege_role]) if no_privilege_role else set()
    cells = []
    for name, endpoint in endpoints.items():
        cells.append(Cell(name, ANONYMOUS, role=None))
        if endpoint.privilege and endpoint.privilege not in held:
            cells.append(Cell(name, NO_PRIVILEGE, role=no_privilege_role, level="use_project"))
        if endpoint.access:
            cells.append(Cell(name, NO_PROJECT_ACCESS))
            below = LEVELS.index(endpoint.access) - 1
            if below >= 0:
                cells.append(Cell(name, NO_PROJECT_ACCESS, level=LEVELS[below]))
        cells.append(Cell(name, ALLOWED, level=endpoint.access or "use_project"))
    return [pytest.param(cell, id=f"{cell.name}-{cell.expected.replace(' ', '_')}"
                         + (f"-{cell.level}" if cell.expected == NO_PROJECT_ACCESS and cell.level else ""))
            for cell in cells]


def page_text(response) -> str:
    """The page as a person reads it: no markup, no entities."""
    from django.utils.html import strip_tags

    return html.unescape(strip_tags(response.content.decode()))


def assert_access(client, endpoint: Endpoint, expected: str, *, hidden=()):
    """Ask `endpoint` with `client` (signed in as the person of the case, or not at all) and check the answer
    for `expected`; `hidden`: what a person without project access must not read on the page. Returns it."""
    response = getattr(client, endpoint.method)(endpoint.url, endpoint.data, headers=endpoint.headers)
    status, where = response.status_code, f"{endpoint.method.upper()} {endpoint.url}"
    if expected == ANONYMOUS:
        from django.urls import reverse

        assert status == 302, (where, status)
        location = urlsplit(response["Location"])
        assert location.path == reverse("account_login"), (where, response["Location"])
        assert parse_qs(location.query).get("next") == [endpoint.url], (where, response["Location"])
    elif expected == NO_PRIVILEGE:
        assert status == 403, (where, status)
        if endpoint.privilege:
            from accounts.access import privilege_name

            assert f"You need the {privilege_name(endpoint.privilege)} privilege" in page_text(response), where
    elif expected == NO_PROJECT_ACCESS:
        assert status == 404, (where, status)
        text = page_text(response)
        assert "Page not found" in text, where
        assert not [secret for secret in hidden if secret in text], where
    else:
        assert status in endpoint.allowed, (where, status, response.content[:500])
    return response


@pytest.fixture
def permission_matrix(client, make_user, project, builder):
    """permission_matrix(cell, endpoints, hidden=()): the person of the cell, of the suite's project, asks the
    cell's endpoint; the answer is checked with `assert_access`."""
    from accounts import services
    from accounts.models import ProjectAccess

    def check(cell: Cell, endpoints: dict[str, Endpoint], *, hidden=()):
        if cell.expected != ANONYMOUS:
            person = make_user(cell.role)
            if cell.level:
                services.project_share(project=project, acting_user=builder, level=ProjectAccess(cell.level),
                                       user=person)
            client.force_login(person)
        return assert_access(client, endpoints[cell.name], cell.expected, hidden=hidden)

    return check
