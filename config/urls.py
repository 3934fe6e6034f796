from django.contrib import admin
from django.urls import include, path, register_converter

from accounts import views as account_views
from config.converters import IdConverter

# `<id:pk>` in every URLconf below: only ids a BigAutoField can hold match (config.converters). Registered before
# the include()s import those URLconfs.
register_converter(IdConverter, "id")

admin.site.site_header = "Splice administration"
admin.site.site_title = "Splice admin"
admin.site.index_title = "Users, roles, privileges and projects"

urlpatterns = [
    path("", account_views.home, name="home"),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("connections/", include("connections.urls")),
    path("notifications/", include("connections.notification_urls")),
    path("recipes/", include("recipes.urls")),
    path("demo-crm/", include("demo.urls")),  # answers only while SPLICE_DEMO_APP is on
    path("admin/", admin.site.urls),
]

handler403 = "accounts.views.error_403"
handler404 = "accounts.views.error_404"
handler500 = "accounts.views.error_500"
