from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class ConnectionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "connections"
    verbose_name = "Connections"

    def ready(self) -> None:
        from connections.catalog import SpecError, load_registry
        from connections.models import Connection
        from connections.notifications import on_status_changed
        from connections.signals import connection_status_changed
        from connections.vault import KeyRing, KeyRingError

        # A malformed key ring must stop the deployment at start, not at the first credential it seals.
        try:
            KeyRing.from_env_value(settings.SPLICE_CREDENTIAL_KEYS)
        except KeyRingError as exc:
            raise ImproperlyConfigured(f"SPLICE_CREDENTIAL_KEYS: {exc}") from None

        # The catalog is loaded once, explicitly: built-in specs plus SPLICE_CONNECTOR_DIRS.
        try:
            load_registry(settings.SPLICE_CONNECTOR_DIRS)
        except SpecError as exc:
            raise ImproperlyConfigured(f"Invalid connector specs:\n{exc}") from None

        # People hear about a connection's status changes (connections.notifications).
        connection_status_changed.connect(on_status_changed, sender=Connection,
                                          dispatch_uid="connections.notifications.on_status_changed")
