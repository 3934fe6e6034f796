"""allauth hooks: whether sign-up is open, and the role a new sign-up gets."""

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings

from accounts.services import user_assign_role


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return settings.SPLICE_SIGNUP_OPEN

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit and settings.SPLICE_DEFAULT_ROLE:
            user_assign_role(user=user, role_name=settings.SPLICE_DEFAULT_ROLE)
        return user
