from django.contrib import admin

from api.models import ApiWrite


@admin.register(ApiWrite)
class ApiWriteAdmin(admin.ModelAdmin):
    """Read-only: who wrote what through the API, with which token."""

    list_display = ("created_at", "token_name", "actor", "operation", "object_type", "object_id", "status_code")
    list_filter = ("operation", "status_code")
    search_fields = ("token_name", "summary", "actor__email")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
