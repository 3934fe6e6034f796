"""The API for programs, mounted at /api/v1/, authenticated by personal API tokens."""

from django.urls import include, path

urlpatterns = [
    path("", include("recipes.api_urls")),
]
