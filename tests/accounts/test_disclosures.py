"""What accounts must not give away: links in account emails that follow a forged Host header, admins' addresses
on the 403 page, which emails have accounts (project sharing), privileges before an address is verified, and
a lockout a stranger can impose on an account's owner from anywhere."""

import re
import uuid
from urllib.parse import urlsplit

import pytest
from allauth.account.adapter import get_adapter
from allauth.core import ratelimit
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts import roles
from accounts.models import User

pytestmark = pytest.mark.django_db

BASE_URL = "https://splice.example.com"
HOSTILE = "evil.example.net"
PASSWORD = "Correct-Horse-42"


@pytest.fixture(autouse=True)
def address():
    """address("ada") -> an email address of this run's own. allauth's rate limits live in the cache (a Redis
    kept between runs), keyed by address and client IP; the entries these tests make are cleared at the end."""
    used: list[str] = []

    def make(name: str) -> str:
        used.append(f"{name}-{uuid.uuid4().hex[:8]}@example.com")
        return used[-1]

    yield make
    request = RequestFactory().post("/", REMOTE_ADDR="127.0.0.1")  # the test client's address
    for action in ("signup", "login"):
        ratelimit.clear(request, action=action)
    for email in used:
        for action in ("confirm_email", "reset_password"):
            ratelimit.clear(request, action=action, key=email)
        ratelimit.clear(request, action="login_failed", key=get_adapter()._get_login_attempts_cache_key(
            request, email=email))


def _sign_up(client, email, **extra):
    return client.post(reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD},
                       **extra)


def _links(message) -> list[str]:
    return re.findall(r"https?://\S+", message.body)


def _verify(client, mailoutbox, email):
    """Follow the confirmation link of the last email sent to `email`, as its owner would."""
    message = [m for m in mailoutbox if email in m.to][-1]
    [link] = [url for url in _links(message) if "/confirm-email/" in url]
    return client.post(urlsplit(link).path, follow=True)


# --- 1. Account emails link to SPLICE_BASE_URL, whatever Host the request came with ---

@pytest.fixture
def hostile_host(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOSTILE]
    settings.SPLICE_BASE_URL = BASE_URL
    return {"HTTP_HOST": HOSTILE}


def _assert_from_base_url(message):
    links = _links(message)
    assert links, message.body
    assert all(link.startswith(f"{BASE_URL}/") for link in links), links
    assert HOSTILE not in message.subject + message.body
    assert message.subject.startswith("[Splice] ")


def test_password_reset_link_starts_with_the_base_url_not_the_host_header(client, make_user, address, hostile_host,
                                                                           mailoutbox):
    owner = make_user(email=address("owner"))
    response = client.post(reverse("account_reset_password"), {"email": owner.email}, **hostile_host)
    assert response.status_code == 302
    [message] = mailoutbox
    _assert_from_base_url(message)
    [link] = _links(message)
    assert "/password/reset/key/" in link

    # and it is the working link: it opens the form to choose a new password
    page = client.get(urlsplit(link).path, follow=True)
    assert page.status_code == 200
    assert 'name="password1"' in page.text


def test_reset_request_for_an_unknown_address_links_to_the_base_url(client, address, hostile_host, mailoutbox):
    client.post(reverse("account_reset_password"), {"email": address("stranger")}, **hostile_host)
    [message] = mailoutbox
    _assert_from_base_url(message)
    assert f"{BASE_URL}{reverse('account_signup')}" in message.body


def test_sign_up_confirmation_link_starts_with_the_base_url(client, builtin_roles, address, hostile_host,
                                                            mailoutbox):
    _sign_up(client, address("ada"), **hostile_host)
    [message] = mailoutbox
    _assert_from_base_url(message)
    assert "/confirm-email/" in message.body


def test_sign_up_with_a_taken_address_mails_links_from_the_base_url(client, make_user, address, hostile_host,
                                                                    mailoutbox, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"  # only then does allauth answer a taken address by email
    _sign_up(client, make_user(email=address("taken")).email, **hostile_host)
    [message] = mailoutbox
    _assert_from_base_url(message)
    assert f"{BASE_URL}{reverse('account_reset_password')}" in message.body


# --- 2. The 403 page says to ask an admin, and lists nobody's address ---

def test_403_page_says_to_ask_an_admin_without_listing_admins_addresses(client_for, viewer, make_user):
    make_user(roles.ADMIN, email="boss@example.com")
    response = client_for(viewer).get(reverse("project_create"))
    assert response.status_code == 403
    assert "Create projects" in response.text
    assert "Ask an admin (someone with the Admin role)" in response.text
    assert "boss@example.com" not in response.text
    assert "mailto:" not in response.text


# --- 3. Sharing a project does not tell which emails have accounts ---

def _messages(page) -> list[str]:
    return re.findall(r'<p class="message[^"]*">(.*?)</p>', page.text, re.S)


def _share(client, project, email, level="use_project"):
    """What the sharer sees: the answer, the message on the page it leads to, and the person's line in the list."""
    response = client.post(reverse("project_share", args=[project.pk]), {"email": email, "level": level})
    page = client.get(response["Location"])
    [entry] = re.findall(rf"<li>{re.escape(email.lower())} — .*?</li>", page.text, re.S)
    entry = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", entry)  # a fresh token on every page
    return response.status_code, response["Location"], _messages(page), entry


@pytest.mark.parametrize("typed", [str.lower, str.upper], ids=["as stored", "other case"])
def test_sharing_answers_alike_whether_or_not_an_account_has_the_email(client_for, builder, project, make_user,
                                                                       address, typed):
    known_email, unknown_email = address("known"), address("unknown")
    make_user(roles.VIEWER, email=known_email)
    client = client_for(builder)

    known = _share(client, project, typed(known_email))
    unknown = _share(client, project, typed(unknown_email))

    def blank(answer, email):
        return repr(answer).replace(email, "EMAIL").replace(email.upper(), "EMAIL")

    assert known[0] == unknown[0] == 302
    assert known[2], "the sharer is told what happened"
    assert blank(known, known_email) == blank(unknown, unknown_email)


def test_removing_a_person_answers_alike_and_takes_no_account_id(client_for, builder, project, make_user, address):
    emails = [make_user(roles.VIEWER, email=address("known")).email, address("unknown")]
    stranger = make_user(roles.VIEWER, email=address("stranger"))
    client = client_for(builder)
    for email in emails:
        _share(client, project, email)
    answers = []
    for email in emails:
        response = client.post(reverse("project_unshare", args=[project.pk]), {"email": email}, follow=True)
        answers.append((response.redirect_chain, [m.replace(email, "EMAIL") for m in _messages(response)]))
        assert f"<li>{email} — " not in response.text
    assert answers[0] == answers[1]
    assert answers[0][1] == [f"Removed EMAIL from “{project.name}”."]

    # an account id tells nothing: no "Removed <their email>"
    response = client.post(reverse("project_unshare", args=[project.pk]), {"user": stranger.pk}, follow=True)
    assert stranger.email not in response.text


def test_access_shared_with_an_address_waits_until_someone_verifies_it(client_for, builder, project, address,
                                                                       mailoutbox):
    email = address("newcomer")
    _share(client_for(builder), project, email)
    client = Client()
    _sign_up(client, email)
    assert project.name not in client.get(reverse("project_list")).text  # merely signing up with it is not enough

    _verify(client, mailoutbox, email)
    newcomer = User.objects.get(email=email)
    client.force_login(newcomer)
    page = client.get(project.get_absolute_url())
    assert page.status_code == 200
    assert project.name in page.text


# --- 4. Mandatory verification: no role until the address is verified ---

def _role_names(email):
    return list(User.objects.get(email=email).groups.values_list("name", flat=True))


def test_with_mandatory_verification_a_sign_up_gets_its_role_only_once_verified(client, builtin_roles, settings,
                                                                                address, mailoutbox):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    _sign_up(client, address("ada"))
    ada = User.objects.get()
    assert _role_names(ada.email) == []
    assert not ada.has_perm("connections.add_connection")
    assert not ada.has_perm("accounts.add_project")

    _verify(client, mailoutbox, ada.email)
    assert _role_names(ada.email) == [roles.BUILDER]
    client.post(reverse("account_login"), {"login": ada.email, "password": PASSWORD})
    assert client.get(reverse("project_create")).status_code == 200  # a Builder's privilege


@pytest.mark.parametrize("verification", ["optional", "none"])
def test_without_mandatory_verification_a_sign_up_gets_its_role_at_once(client, builtin_roles, settings, address,
                                                                        verification):
    settings.ACCOUNT_EMAIL_VERIFICATION = verification
    email = address("ada")
    _sign_up(client, email, follow=True)
    assert _role_names(email) == [roles.BUILDER]
    assert client.get(reverse("project_create")).status_code == 200


def test_verifying_later_does_not_give_back_a_role_an_admin_took_away(client, builtin_roles, address, mailoutbox):
    _sign_up(client, address("ada"))
    ada = User.objects.get()
    ada.groups.remove(Group.objects.get(name=roles.BUILDER))
    _verify(client, mailoutbox, ada.email)
    assert _role_names(ada.email) == []


# --- 5. Failed sign-ins lock an account for one network, not for its owner everywhere ---

@pytest.fixture
def networks():
    """networks(n) -> n client addresses of their own (fresh each run: the cache may be a Redis kept between runs);
    the rate-limit entries these tests make for them are cleared at the end, nothing else."""
    used: list[tuple[str, str]] = []

    def make(email: str, *addresses: str) -> list[str]:
        used.extend((email, address) for address in addresses)
        return list(addresses)

    yield make
    adapter = get_adapter()
    for email, address in used:
        request = RequestFactory().post("/", REMOTE_ADDR=address)
        key = adapter._get_login_attempts_cache_key(request, email=email)
        ratelimit.clear(request, action="login_failed", key=key)
        ratelimit.clear(request, action="login")


def _fresh_ipv4() -> str:
    octets = uuid.uuid4().bytes[:3]
    return "10." + ".".join(str(b) for b in octets)


def _sign_in(address, email, password):
    client = Client(REMOTE_ADDR=address)
    response = client.post(reverse("account_login"), {"login": email, "password": password})
    return client, response


LOCKED = ("Too many failed sign-in attempts for this account from your network. Try again in 5 minutes, "
          "or reset your password.")


def test_wrong_passwords_from_one_network_lock_it_out_but_not_the_owner_elsewhere(make_user, networks):
    owner = make_user(email=f"owner-{uuid.uuid4().hex[:8]}@example.com")
    attacker, home = networks(owner.email, _fresh_ipv4(), _fresh_ipv4())

    for _ in range(5):
        _, response = _sign_in(attacker, owner.email, "guess-guess")
        assert "The email address and/or password you specified are not correct." in response.text

    client, response = _sign_in(attacker, owner.email, owner.raw_password)  # even the right password
    assert response.status_code == 200
    assert LOCKED in response.text
    assert "_auth_user_id" not in client.session

    client, response = _sign_in(home, owner.email, owner.raw_password)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_one_ipv6_network_counts_as_one_place(make_user, networks):
    owner = make_user(email=f"owner-{uuid.uuid4().hex[:8]}@example.com")
    prefix = "2001:db8:" + ":".join(uuid.uuid4().hex[i:i + 4] for i in (0, 4)) + ":"
    addresses = networks(owner.email, *(f"{prefix}:{n}" for n in range(1, 7)))

    for address in addresses[:5]:  # a new address in the same /64 for every guess
        _sign_in(address, owner.email, "guess-guess")
    _, response = _sign_in(addresses[5], owner.email, owner.raw_password)
    assert LOCKED in response.text
