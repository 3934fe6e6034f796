from django.urls import path

from connections import views

urlpatterns = [
    path("", views.connection_list, name="connection_list"),
    path("<int:pk>/", views.connection_detail, name="connection_detail"),
    path("oauth/callback/", views.oauth_callback, name="connection_oauth_callback"),
]
