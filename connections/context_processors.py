"""What the top navigation shows about health on every page: connections needing attention, unread notifications."""

from connections.selectors import nav_counts_for_user


def health(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    counts = nav_counts_for_user(user)
    return {"nav_attention_count": counts["attention"], "nav_unread_count": counts["unread"]}
