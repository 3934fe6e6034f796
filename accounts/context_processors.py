"""What the base layout needs on every page: the admin link, the count of unread notifications."""

from accounts.selectors import notifications_unread_count


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_is_staff": user.is_staff, "nav_unread_count": notifications_unread_count(user)}
