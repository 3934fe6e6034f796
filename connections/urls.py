from django.urls import path

from connections import views

urlpatterns = [
    path("", views.connection_list, name="connection_list"),
]
