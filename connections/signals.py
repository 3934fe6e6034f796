"""What connections tell the rest of Splice. `connection_status_changed` is sent on commit, so a receiver never
acts on a change that was rolled back (connections.notifications turns status changes into notifications for
people). `connection_disconnected` is sent inside the disconnect's transaction, so what a receiver does (recipes
stops the running recipes that used it) holds or falls with it."""

from django.dispatch import Signal

__all__ = ["connection_disconnected", "connection_status_changed"]

# sender=Connection, connection=<Connection>, before=(status, reason), after=(status, reason)
connection_status_changed = Signal()

# sender=Connection, connection=<Connection>, acting_user=<User>, running=[running recipes that used it]
connection_disconnected = Signal()
