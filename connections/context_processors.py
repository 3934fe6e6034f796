"""What the top navigation shows about connections on every page: how many need attention (unread notifications
are accounts', accounts.context_processors)."""

from connections.selectors import nav_counts_for_user


def health(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_attention_count": nav_counts_for_user(user)["attention"]}
