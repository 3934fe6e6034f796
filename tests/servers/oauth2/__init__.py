"""A standalone Django + django-oauth-toolkit authorization server for Splice's OAuth2 tests."""
