"""Runtime user connections: a person's own connections and the links that make them."""

urlpatterns: list = []
