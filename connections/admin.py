from django.contrib import admin

from connections.models import Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "created_by", "created_at"]
    search_fields = ["name", "project__name"]
    list_select_related = ["project", "created_by"]
