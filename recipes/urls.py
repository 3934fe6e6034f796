from django.urls import path

from recipes import views

urlpatterns = [
    path("", views.recipe_list, name="recipe_list"),
]
