from django.contrib import admin
from django.urls import include, path, register_converter

from config import views
from config.converters import IdConverter

# `<id:pk>` in every URLconf below: only ids a BigAutoField can hold match (config.converters). Registered before
# the include()s import those URLconfs.
register_converter(IdConverter, "id")

admin.site.site_header = "Splice administration"
admin.site.site_title = "Splice admin"
admin.site.index_title = "Users, roles, privileges and projects"

urlpatterns = [
    path("", views.home, name="home"),
    # A project's page shows every app's part of it, so it is composed here (config.views), above the apps.
    path("projects/<id:pk>/", views.project_detail, name="project_detail"),
    path("projects/<id:pk>/share/", views.project_share, name="project_share"),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("connections/", include("connections.urls")),
    path("", include("connections.runtime_urls")),  # My connections and the runtime user connect links
    path("recipes/", include("recipes.urls")),
    path("", include("recipes.job_urls")),  # a recipe's, a project's and every job the person may see
    path("hooks/", include("recipes.hook_urls")),  # webhook triggers: /hooks/<token>/
    path("api/v1/", include("api.urls")),  # the REST API, for programs with a personal API token
    path("workbot/", include("recipes.workbot_urls")),  # chat commands (Slack slash commands)
    path("demo-crm/", include("demo.urls")),  # answers only while SPLICE_DEMO_APP is on
    path("admin/", admin.site.urls),
]

handler403 = "accounts.views.error_403"
handler404 = "accounts.views.error_404"
handler500 = "accounts.views.error_500"
