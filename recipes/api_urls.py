"""The API for programs, mounted at /api/v1/ (recipes.api), authenticated by personal API tokens. Each address is
taken with or without a trailing slash, as programs write either; any other address answers a JSON 404."""

from django.urls import path, re_path

from recipes import api

urlpatterns = [
    path("recipes/<id:pk>/call", api.recipe_call, name="recipe_call"),
    path("recipes/<id:pk>/call/", api.recipe_call),
    path("jobs/<id:pk>", api.api_job, name="api_job"),
    path("jobs/<id:pk>/", api.api_job),
    re_path(r"^(?P<path>.*)$", api.api_not_found),
]
