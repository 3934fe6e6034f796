"""What the base layout needs on every page: the admin link, the count of unread notifications, the Demo CRM link
while the demo app is served."""

from django.conf import settings

from accounts.selectors import notifications_unread_count


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_is_staff": user.is_staff, "nav_unread_count": notifications_unread_count(user),
            "nav_demo_app": settings.SPLICE_DEMO_APP}
