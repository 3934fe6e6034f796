"""The admin's form on /workbot/link/: which person a Slack account's commands run as."""

from __future__ import annotations

from django import forms

from accounts.models import User
from recipes.workbot.slack import SLACK_ID_RE

__all__ = ["ChatUserMapForm"]


class ChatUserMapForm(forms.Form):
    team_id = forms.CharField(label="Slack workspace id", max_length=40,
                              help_text="Like T0123ABCD: in Slack, the workspace's settings or any of its URLs.")
    chat_user_id = forms.CharField(label="Slack user id", max_length=40,
                                   help_text="Like U0123ABCD: in Slack, the person's profile → ⋮ → Copy member ID.")
    email = forms.EmailField(label="Splice person (email)", help_text="Commands from that Slack account run as "
                             "this person, with their privileges and their own connections.")

    def _slack_id(self, name: str) -> str:
        value = self.cleaned_data[name].strip().upper()
        if not SLACK_ID_RE.match(value):
            raise forms.ValidationError("Capital letters and digits only, like T0123ABCD.")
        return value

    def clean_team_id(self) -> str:
        return self._slack_id("team_id")

    def clean_chat_user_id(self) -> str:
        return self._slack_id("chat_user_id")

    def clean(self):
        cleaned = super().clean()
        email = cleaned.get("email")
        if email:
            person = User.objects.filter(email__iexact=email, is_active=True).first()
            if person is None:
                self.add_error("email", "No active Splice person has this email address.")
            cleaned["person"] = person
        return cleaned
