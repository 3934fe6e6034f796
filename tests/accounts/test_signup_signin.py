"""Sign-up, sign-in and sign-out through real HTTP, and where a new person lands."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from accounts.models import User
from tests.permissions import ANONYMOUS, Endpoint, assert_access

pytestmark = pytest.mark.django_db


def test_sign_up_creates_a_builder_who_lands_on_a_home_that_says_what_to_do_first(client):
    response = client.post(
        reverse("account_signup"),
        {"email": "ada@example.com", "password1": "Correct-Horse-42", "password2": "Correct-Horse-42"},
        follow=True,
    )
    user = User.objects.get(email="ada@example.com")
    assert list(user.groups.values_list("name", flat=True)) == ["Builder"]
    assert user.default_project is not None
    assert response.redirect_chain[-1][0] == reverse("home")
    assert response.status_code == 200
    assert f"Open {escape(user.default_project.name)}" in response.text  # their project, one click away
    assert "Create your first connection" in response.text


def test_sign_up_with_mismatched_passwords_keeps_the_email_and_says_why(client):
    response = client.post(
        reverse("account_signup"),
        {"email": "ada@example.com", "password1": "Correct-Horse-42", "password2": "Other-Horse-42"},
    )
    assert response.status_code == 200
    assert "You must type the same password each time" in response.text
    assert 'value="ada@example.com"' in response.text
    assert not User.objects.filter(email="ada@example.com").exists()


def test_sign_in_then_sign_out(client, builder):
    response = client.post(
        reverse("account_login"), {"login": builder.email, "password": builder.raw_password}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("home")
    assert response.wsgi_request.user == builder

    response = client.post(reverse("account_logout"), follow=True)
    assert not response.wsgi_request.user.is_authenticated
    assert_access(client, Endpoint(reverse("project_list")), ANONYMOUS)


def test_wrong_password_is_refused_with_a_message(client, builder):
    response = client.post(reverse("account_login"), {"login": builder.email, "password": "nope"})
    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in response.text
    assert not response.wsgi_request.user.is_authenticated


def test_invite_only_deployment_closes_sign_up(client, settings):
    settings.SPLICE_SIGNUP_OPEN = False
    response = client.get(reverse("account_signup"))
    assert "Sign Up Closed" in response.text
    client.post(
        reverse("account_signup"),
        {"email": "eve@example.com", "password1": "Correct-Horse-42", "password2": "Correct-Horse-42"},
    )
    assert not User.objects.filter(email="eve@example.com").exists()


def test_default_role_comes_from_settings(client, settings):
    settings.SPLICE_DEFAULT_ROLE = "Viewer"
    client.post(
        reverse("account_signup"),
        {"email": "vic@example.com", "password1": "Correct-Horse-42", "password2": "Correct-Horse-42"},
    )
    assert list(User.objects.get(email="vic@example.com").groups.values_list("name", flat=True)) == ["Viewer"]


def test_anonymous_visitors_are_sent_to_sign_in(client):
    assert_access(client, Endpoint(reverse("project_list")), ANONYMOUS)
