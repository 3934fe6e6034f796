from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Splice: people, roles and projects"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (signals connects the new-user hook)
