"""Every new user, however created (sign-up, admin, createsuperuser), starts with a default project."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import User
from accounts.services import user_setup_defaults


@receiver(post_save, sender=User, dispatch_uid="accounts.user_setup_defaults")
def _on_user_created(sender, instance: User, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        user_setup_defaults(user=instance)
