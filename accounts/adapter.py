"""allauth hooks: whether sign-up is open; the role a new sign-up gets, and when; links and the site's name in
account emails, from SPLICE_BASE_URL and never from the request's Host header; failed sign-ins counted per
account *and* network, so a stranger's guesses do not lock the owner out everywhere."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from allauth import app_settings as allauth_settings
from allauth.account import app_settings
from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.urls import reverse

from accounts.services import email_verified, user_grant_signup_role


@dataclass(frozen=True)
class PublicSite:
    """What account emails call the site (allauth's `current_site`): this deployment's public address."""

    domain: str
    name: str = "Splice"


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return settings.SPLICE_SIGNUP_OPEN

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit and settings.SPLICE_DEFAULT_ROLE:
            mandatory = app_settings.EMAIL_VERIFICATION == app_settings.EmailVerificationMethod.MANDATORY
            verified = self.is_email_verified(request, user.email)
            user_grant_signup_role(
                user=user, role_name=settings.SPLICE_DEFAULT_ROLE, after_verification=mandatory and not verified
            )
            if verified:  # proven before sign-up (allauth sends no email_confirmed for that)
                email_verified(user=user, email=user.email)
        return user

    # --- Account emails: every link and the site's name come from SPLICE_BASE_URL ---

    def get_reset_password_from_key_url(self, key: str) -> str:
        # The same URL allauth builds (flows.password_reset), under our address instead of the request's.
        path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
        return public_url(path.replace("UID-KEY", quote(key)))

    def get_email_confirmation_url(self, request, emailconfirmation) -> str:
        return public_url(reverse("account_confirm_email", args=[emailconfirmation.key]))

    def send_account_already_exists_mail(self, email: str) -> None:
        self.send_mail("account/email/account_already_exists", email, {
            "signup_url": public_url(reverse("account_signup")),
            "password_reset_url": public_url(reverse("account_reset_password")),
        })

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        context = {**context, "current_site": public_site()}
        if "signup_url" in context:
            # allauth's unknown-account email builds it from the request, with no adapter hook of its own.
            context["signup_url"] = public_url(reverse("account_signup"))
        super().send_mail(template_prefix, email, context)

    def format_email_subject(self, subject: str) -> str:
        prefix = app_settings.EMAIL_SUBJECT_PREFIX
        return (f"[{public_site().name}] " if prefix is None else prefix) + str(subject)

    # --- Failed sign-ins: per account and network, with a message that says so ---

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        # allauth keys its "login_failed" limit by the login alone (and the Host header), so five wrong passwords
        # from anywhere lock the owner out from everywhere. Its maintainer's advice is to add the client's address
        # here: https://github.com/pennersr/django-allauth/issues/3584 (the limit itself: ACCOUNT_RATE_LIMITS).
        login = str(credentials.get("email", credentials.get("username", ""))).lower()
        return f"{login}|{self._client_network(request)}"

    def _client_network(self, request) -> str:
        """The client's IPv4 address, or its IPv6 network (one host usually holds a whole /64)."""
        ip = self.get_client_ip(request)
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return ip
        if address.version == 6:
            return str(ipaddress.ip_network(f"{address}/{allauth_settings.RATE_LIMIT_IPV6_PREFIX}", strict=False))
        return str(address)

    @property
    def error_messages(self) -> dict:
        minutes = settings.SPLICE_LOGIN_LOCKOUT_MINUTES
        return {
            **DefaultAccountAdapter.error_messages,
            "too_many_login_attempts": (
                "Too many failed sign-in attempts for this account from your network. "
                f"Try again in {minutes} minute{'' if minutes == 1 else 's'}, or reset your password."
            ),
        }


def public_url(path: str) -> str:
    return f"{settings.SPLICE_BASE_URL}{path}"


def public_site() -> PublicSite:
    return PublicSite(domain=urlsplit(settings.SPLICE_BASE_URL).netloc)
