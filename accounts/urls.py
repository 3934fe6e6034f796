from django.urls import path

from accounts import views

urlpatterns = [
    path("projects/", views.project_list, name="project_list"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<id:pk>/unshare/", views.project_unshare, name="project_unshare"),
    path("profile/", views.profile, name="profile"),
    path("profile/api-tokens/", views.api_token_create, name="api_token_create"),
    path("profile/api-tokens/<id:pk>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("notifications/", views.notification_list, name="notification_list"),
    path("notifications/read-all/", views.notification_read_all, name="notification_read_all"),
    path("notifications/<id:pk>/read/", views.notification_read, name="notification_read"),
]
