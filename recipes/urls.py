from django.urls import path

from recipes import views

urlpatterns = [
    path("", views.recipe_list, name="recipe_list"),
    path("new/", views.recipe_create, name="recipe_create"),
    path("<int:pk>/", views.recipe_editor, name="recipe_editor"),
    path("<int:pk>/settings/", views.recipe_settings, name="recipe_settings"),
    path("<int:pk>/steps/", views.step_add, name="recipe_step_add"),
    path("<int:pk>/steps/<int:position>/", views.step_inputs, name="recipe_step_inputs"),
    path("<int:pk>/steps/<int:position>/delete/", views.step_delete, name="recipe_step_delete"),
    path("<int:pk>/connections/", views.binding_set, name="recipe_binding_set"),
    path("<int:pk>/connections/runtime-user/", views.binding_runtime_user, name="recipe_binding_runtime_user"),
    path("<int:pk>/connections/new/", views.connect_start, name="recipe_connect_start"),
    path("<int:pk>/connections/new/done/", views.connect_done, name="recipe_connect_done"),
    path("<int:pk>/start/", views.recipe_start, name="recipe_start"),
    path("<int:pk>/stop/", views.recipe_stop, name="recipe_stop"),
    path("<int:pk>/history/", views.recipe_history, name="recipe_history"),
]
