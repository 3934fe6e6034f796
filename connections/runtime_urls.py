"""Runtime user connections: a person's own connections and the links that make them (connections.runtime_views)."""

from django.urls import path

from connections import runtime_views

urlpatterns = [
    path("connect/<str:token>/", runtime_views.runtime_connect, name="runtime_connect"),
    path("my/connections/", runtime_views.my_connections, name="my_connections"),
    path("my/connections/<id:pk>/", runtime_views.my_connection_detail, name="my_connection_detail"),
    path("my/connections/<id:pk>/connected/", runtime_views.my_connection_connected, name="my_connection_connected"),
    path("my/connections/<id:pk>/reauthorize/", runtime_views.my_connection_reauthorize,
         name="my_connection_reauthorize"),
    path("my/connections/<id:pk>/test/", runtime_views.my_connection_test, name="my_connection_test"),
    path("my/connections/<id:pk>/disconnect/", runtime_views.my_connection_disconnect, name="my_connection_disconnect"),
    path("my/connections/<id:pk>/delete/", runtime_views.my_connection_delete, name="my_connection_delete"),
]
