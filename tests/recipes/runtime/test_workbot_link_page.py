"""/workbot/link/: every signed-in person links their own Slack account with a one-time code shown once; people
who manage users link any Slack account to any person, and unlink any."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from recipes.models import ChatLinkCode, ChatUser
from recipes.workbot import services as workbot

pytestmark = pytest.mark.django_db

URL = "/workbot/link/"


def test_anonymous_people_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_a_person_gets_a_code_shown_once_and_kept_only_hashed(client_for, viewer):
    client = client_for(viewer)
    page = client.get(URL)
    assert page.status_code == 200
    assert "No Slack account is linked to you yet." in page.content.decode()
    assert "Everyone's Slack accounts" not in page.content.decode()  # not someone who manages users
    response = client.post(URL, {"action": "code"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    code = re.search(r'<code id="link-code">([A-Z2-9]{8})</code>', response.content.decode()).group(1)
    assert f"/splice link {code}" in response.content.decode()
    assert not ChatLinkCode.objects.filter(code_hash__icontains=code).exists()
    assert code not in client.get(URL).content.decode()  # shown on that answer only


def test_a_person_sees_and_unlinks_their_own_account_only(client_for, viewer, builder):
    mine = workbot.chat_user_link(provider="slack", team_id="T1", chat_user_id="U1", user=viewer, acting_user=viewer)
    theirs = workbot.chat_user_link(provider="slack", team_id="T1", chat_user_id="U2", user=builder,
                                    acting_user=builder)
    client = client_for(viewer)
    page = client.get(URL).content.decode()
    assert "<code>U1</code>" in page and "<code>U2</code>" not in page  # a random token may hold "U2"
    assert client.post(URL, {"action": "unlink", "chat_user": theirs.pk}).status_code == 404
    for no_id in ("²", "9" * 30, ""):  # digits that are no id answer 404, never 500
        assert client.post(URL, {"action": "unlink", "chat_user": no_id}).status_code == 404
    assert client.post(URL, {"action": "unlink", "chat_user": mine.pk}).status_code == 302
    assert list(ChatUser.objects.values_list("chat_user_id", flat=True)) == ["U2"]


def test_only_people_who_manage_users_map_a_chat_account_to_someone(client_for, viewer, admin_user, builder):
    assert client_for(builder).post(URL, {"action": "map", "team_id": "T1", "chat_user_id": "U9",
                                          "email": viewer.email}).status_code == 403
    assert ChatUser.objects.count() == 0
    client = client_for(admin_user)
    bad = client.post(URL, {"action": "map", "team_id": "t 1", "chat_user_id": "U9", "email": "nobody@example.com"})
    assert bad.status_code == 200
    assert "Capital letters and digits only" in bad.content.decode()
    assert "No active Splice person has this email address." in bad.content.decode()
    response = client.post(URL, {"action": "map", "team_id": "t1", "chat_user_id": "u9", "email": viewer.email})
    assert response.status_code == 302
    chat_user = ChatUser.objects.get()
    assert (chat_user.team_id, chat_user.chat_user_id, chat_user.user, chat_user.linked_by) == (
        "T1", "U9", viewer, admin_user)
    page = client.get(URL).content.decode()
    assert "Everyone's Slack accounts" in page and viewer.email in page
    assert client.post(URL, {"action": "unlink", "chat_user": chat_user.pk}).status_code == 302
    assert ChatUser.objects.count() == 0
