from django.urls import path

from connections import catalog_views, health_views, views

urlpatterns = [
    path("", views.connection_list, name="connection_list"),
    path("new/", views.wizard_pick_app, name="connection_create"),
    path("new/<str:app_key>/", views.wizard_describe, name="connection_create_app"),
    path("audit/", views.audit_log, name="connection_audit_log"),
    path("health/", health_views.health_summary, name="connection_health"),
    path("check-all/<id:project_pk>/", health_views.project_check_all, name="connection_check_all"),
    path("oauth/callback/", views.oauth_callback, name="connection_oauth_callback"),
    path("<id:pk>/", views.connection_detail, name="connection_detail"),
    path("<id:pk>/authorize/", views.connection_authorize, name="connection_authorize"),
    path("<id:pk>/cancel/", views.connection_cancel, name="connection_cancel"),
    path("<id:pk>/test/", views.connection_test, name="connection_test"),
    path("<id:pk>/edit/", views.connection_edit, name="connection_edit"),
    path("<id:pk>/disconnect/", views.connection_disconnect, name="connection_disconnect"),
    path("<id:pk>/delete/", views.connection_delete, name="connection_delete"),
    path("apps/", catalog_views.catalog, name="catalog"),
    path("apps/<slug:key>/", catalog_views.catalog_app, name="catalog_app"),
    path("custom-connectors/", catalog_views.custom_connector_list, name="custom_connector_list"),
    path("custom-connectors/new/", catalog_views.custom_connector_create, name="custom_connector_create"),
    path("custom-connectors/<slug:key>/edit/", catalog_views.custom_connector_edit, name="custom_connector_edit"),
    path("custom-connectors/<slug:key>/history/", catalog_views.custom_connector_history,
         name="custom_connector_history"),
    path("custom-connectors/<slug:key>/disable/", catalog_views.custom_connector_disable,
         name="custom_connector_disable"),
    path("custom-connectors/<slug:key>/enable/", catalog_views.custom_connector_enable,
         name="custom_connector_enable"),
]
