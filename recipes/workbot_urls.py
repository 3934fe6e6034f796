"""Workbot: chat commands that run recipes as the person who typed them (included at /workbot/)."""

from django.urls import path

from recipes.workbot import views

urlpatterns = [
    path("slack/commands", views.slack_commands, name="workbot_slack_commands"),
    path("link/", views.link_page, name="workbot_link"),
]
