"""What connections tell the rest of Splice. Sent on commit, so a receiver never acts on a change that was
rolled back (connections.notifications turns status changes into notifications for people)."""

from django.dispatch import Signal

__all__ = ["connection_status_changed"]

# sender=Connection, connection=<Connection>, before=(status, reason), after=(status, reason)
connection_status_changed = Signal()
