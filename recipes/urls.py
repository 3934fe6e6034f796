from django.urls import path

from recipes import views

urlpatterns = [
    path("", views.recipe_list, name="recipe_list"),
    path("new/", views.recipe_create, name="recipe_create"),
    path("<id:pk>/", views.recipe_editor, name="recipe_editor"),
    path("<id:pk>/settings/", views.recipe_settings, name="recipe_settings"),
    path("<id:pk>/call-fields/", views.call_field_add, name="recipe_call_field_add"),
    path("<id:pk>/call-fields/delete/", views.call_field_delete, name="recipe_call_field_delete"),
    path("<id:pk>/webhook/regenerate/", views.webhook_regenerate, name="recipe_webhook_regenerate"),
    path("<id:pk>/steps/", views.step_add, name="recipe_step_add"),
    path("<id:pk>/steps/<id:position>/", views.step_inputs, name="recipe_step_inputs"),
    path("<id:pk>/steps/<id:position>/delete/", views.step_delete, name="recipe_step_delete"),
    path("<id:pk>/connections/", views.binding_set, name="recipe_binding_set"),
    path("<id:pk>/connections/runtime-user/", views.binding_runtime_user, name="recipe_binding_runtime_user"),
    path("<id:pk>/connections/new/", views.connect_start, name="recipe_connect_start"),
    path("<id:pk>/connections/new/done/", views.connect_done, name="recipe_connect_done"),
    path("<id:pk>/connections/pane/", views.connect_pane, name="recipe_connect_pane"),
    path("<id:pk>/connections/pane/<id:connection_pk>/credentials/", views.connect_credentials,
         name="recipe_connect_credentials"),
    path("<id:pk>/connections/pane/<id:connection_pk>/authorize/", views.connect_authorize,
         name="recipe_connect_authorize"),
    path("<id:pk>/start/", views.recipe_start, name="recipe_start"),
    path("<id:pk>/stop/", views.recipe_stop, name="recipe_stop"),
    path("<id:pk>/history/", views.recipe_history, name="recipe_history"),
]
