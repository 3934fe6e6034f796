from django.urls import path

from accounts import views

urlpatterns = [
    path("projects/", views.project_list, name="project_list"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<id:pk>/unshare/", views.project_unshare, name="project_unshare"),
    path("profile/", views.profile, name="profile"),
    path("notifications/", views.notification_list, name="notification_list"),
    path("notifications/read-all/", views.notification_read_all, name="notification_read_all"),
    path("notifications/<id:pk>/read/", views.notification_read, name="notification_read"),
]
