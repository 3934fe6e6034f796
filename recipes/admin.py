from django.contrib import admin

from recipes.models import ChatUser, Recipe


@admin.register(Recipe)
class RecipeAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "kind", "running", "created_at"]
    list_filter = ["kind", "running"]
    search_fields = ["name", "project__name"]
    list_select_related = ["project"]


@admin.register(ChatUser)
class ChatUserAdmin(admin.ModelAdmin):
    """Which Splice person a chat account's commands run as. Managed by people who manage users (the Admin role's
    accounts.change_user): ChatUser has no permissions of its own. ChatLinkCode and ChatCommand are not registered
    (a command holds Slack's response_url, a capability URL)."""

    list_display = ["chat_user_id", "team_id", "provider", "user", "linked_by", "linked_at"]
    list_filter = ["provider"]
    search_fields = ["chat_user_id", "team_id", "user__email"]
    list_select_related = ["user", "linked_by"]
    raw_id_fields = ["user"]
    readonly_fields = ["linked_by", "linked_at"]
    fields = ["provider", "team_id", "chat_user_id", "user", "linked_by", "linked_at"]

    def _may(self, request) -> bool:
        return request.user.is_active and request.user.has_perm("accounts.change_user")

    def has_module_permission(self, request) -> bool:
        return self._may(request) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may(request)

    def has_add_permission(self, request) -> bool:
        return self._may(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may(request)

    def save_model(self, request, obj, form, change) -> None:
        obj.linked_by = request.user
        super().save_model(request, obj, form, change)
