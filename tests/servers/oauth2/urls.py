"""URLs of the test authorization server."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from oauth2_provider import views as oauth2_views

from tests.servers.oauth2 import views

oauth2_patterns = [
    path("authorize/", views.CountingAuthorizationView.as_view(), name="authorize"),
    path("token/", views.CountingTokenView.as_view(), name="token"),
    path("revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", oauth2_views.IntrospectTokenView.as_view(), name="introspect"),
]

control_patterns = [
    path("health", views.control_health),
    path("stats", views.control_stats),
    path("reset", views.control_reset),
    path("revoke", views.control_revoke),
    path("scope", views.control_scope),
    path("expire", views.control_expire),
    path("token-delay", views.control_token_delay),
    path("token-lifetime", views.control_token_lifetime),
    path("redirect-uri", views.control_redirect_uri),
    path("iss-supported", views.control_iss_supported),
]

urlpatterns = [
    path(".well-known/oauth-authorization-server", views.authorization_server_metadata),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("o/", include((oauth2_patterns, "oauth2_provider"))),
    path("api/me", views.api_me),
    path("api/items", views.api_items),
    path("_control/", include(control_patterns)),
]
