from django.contrib import admin

from recipes.models import Recipe


@admin.register(Recipe)
class RecipeAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "kind", "running", "created_at"]
    list_filter = ["kind", "running"]
    search_fields = ["name", "project__name"]
    list_select_related = ["project"]
