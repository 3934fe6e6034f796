"""Users and client applications the test authorization server starts with.

Environment variables (all optional; the fixture sets them): ``OAUTH2_SERVER_CLIENT_ID``,
``OAUTH2_SERVER_CLIENT_SECRET``, ``OAUTH2_SERVER_REDIRECT_URIS`` (space separated),
``OAUTH2_SERVER_CC_CLIENT_ID``, ``OAUTH2_SERVER_CC_CLIENT_SECRET``.
"""

import os

from django.db import transaction

CONFIDENTIAL_CLIENT_ID = os.environ.get("OAUTH2_SERVER_CLIENT_ID", "splice-test-client")
CONFIDENTIAL_CLIENT_SECRET = os.environ.get("OAUTH2_SERVER_CLIENT_SECRET", "splice-test-client-secret")
CONFIDENTIAL_CLIENT_NAME = "Splice Test App"
REDIRECT_URIS = os.environ.get(
    "OAUTH2_SERVER_REDIRECT_URIS", "http://127.0.0.1:8000/connections/oauth/callback/"
).split()
CC_CLIENT_ID = os.environ.get("OAUTH2_SERVER_CC_CLIENT_ID", "splice-test-machine")
CC_CLIENT_SECRET = os.environ.get("OAUTH2_SERVER_CC_CLIENT_SECRET", "splice-test-machine-secret")
CC_CLIENT_NAME = "Splice Machine Client"

USERS = [
    {"email": "ada@example.com", "password": "ada-pass-123", "first_name": "Ada", "last_name": "Lovelace"},
    {"email": "bob@example.com", "password": "bob-pass-123", "first_name": "Bob", "last_name": "Builder"},
]


def seed() -> None:
    """Create the users and both applications, with secrets hashed as DOT stores them."""
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import get_application_model

    User, Application = get_user_model(), get_application_model()
    with transaction.atomic():
        for user in USERS:
            User.objects.create_user(
                username=user["email"],
                email=user["email"],
                password=user["password"],
                first_name=user["first_name"],
                last_name=user["last_name"],
            )
        # A plaintext client_secret with hash_client_secret=True is hashed on save by
        # DOT's ClientSecretField, exactly like an application registered through DOT.
        Application.objects.create(
            name=CONFIDENTIAL_CLIENT_NAME,
            client_id=CONFIDENTIAL_CLIENT_ID,
            client_secret=CONFIDENTIAL_CLIENT_SECRET,
            hash_client_secret=True,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=" ".join(REDIRECT_URIS),
            skip_authorization=False,
        )
        Application.objects.create(
            name=CC_CLIENT_NAME,
            client_id=CC_CLIENT_ID,
            client_secret=CC_CLIENT_SECRET,
            hash_client_secret=True,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        )


def identity_of(access_token) -> dict:
    """What /api/me answers: the user, or the application for client-credentials tokens."""
    user = access_token.user
    if user is None:
        application = access_token.application
        return {"id": f"app:{application.client_id}", "email": None, "name": application.name}
    return {"id": str(user.pk), "email": user.email, "name": user.get_full_name()}
