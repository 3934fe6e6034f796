"""The jobs pages (recipes.job_views), mounted at the site's root: under a recipe, a project, or on their own."""

from django.urls import path

from recipes import job_views

urlpatterns = [
    path("recipes/<id:pk>/jobs/", job_views.recipe_jobs, name="recipe_jobs"),
    path("projects/<id:pk>/jobs/", job_views.project_jobs, name="project_jobs"),
    path("jobs/", job_views.job_list, name="job_list"),
    path("jobs/<id:pk>/", job_views.job_detail, name="job_detail"),
    path("jobs/<id:pk>/rerun/", job_views.job_rerun, name="job_rerun"),
]
