"""Every new user, however created (sign-up, admin, createsuperuser), starts with a default project; a verified
email address brings what was held back until then (the sign-up role, projects shared with that address)."""

from allauth.account.signals import email_confirmed
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import User
from accounts.services import email_verified, user_setup_defaults


@receiver(post_save, sender=User, dispatch_uid="accounts.user_setup_defaults")
def _on_user_created(sender, instance: User, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        user_setup_defaults(user=instance)


# Sent by allauth when someone follows a confirmation link or enters the code, and by its admin's "mark verified".
@receiver(email_confirmed, dispatch_uid="accounts.email_verified")
def _on_email_confirmed(sender, email_address, **kwargs) -> None:
    email_verified(user=email_address.user, email=email_address.email)
