"""Webhook triggers' addresses, mounted at /hooks/ (recipes.webhooks): one per recipe, unguessable, regenerable."""

from django.urls import path, re_path

from recipes import webhooks

urlpatterns = [
    path("<str:token>/", webhooks.recipe_webhook, name="recipe_webhook"),
    # Everything else under /hooks/ answers in JSON too, and the address without its slash is taken as it is:
    # CommonMiddleware would answer a POST there with a redirect, which senders do not follow with the body.
    re_path(r"^(?P<token>.*)$", webhooks.recipe_webhook),
]
