"""Workbot: chat commands that run recipes as the person who typed them."""

urlpatterns: list = []
