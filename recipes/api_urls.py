"""The callable call and a job's status (recipes.api), mounted at /api/v1/ by api.urls before the rest of the API.
Each address is taken with or without a trailing slash, as programs write either."""

from django.urls import path

from recipes import api

urlpatterns = [
    path("recipes/<id:pk>/call", api.recipe_call, name="recipe_call"),
    path("recipes/<id:pk>/call/", api.recipe_call),
    path("jobs/<id:pk>", api.api_job, name="api_job"),
    path("jobs/<id:pk>/", api.api_job),
]
