"""/notifications/: the signed-in person's notifications (connections.health_views)."""

from django.urls import path

from connections import health_views

urlpatterns = [
    path("", health_views.notification_list, name="notification_list"),
    path("read-all/", health_views.notification_read_all, name="notification_read_all"),
    path("<id:pk>/read/", health_views.notification_read, name="notification_read"),
]
