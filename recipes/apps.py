from django.apps import AppConfig


class RecipesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recipes"
    verbose_name = "Recipes"

    def ready(self) -> None:
        from connections.usage import register_usage_provider
        from recipes.usage import RecipeUsage

        register_usage_provider(RecipeUsage())  # the connection pages say which recipes use a connection
        from recipes import receivers  # noqa: F401 (connects the receivers)
