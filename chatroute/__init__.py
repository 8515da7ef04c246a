"""chatroute: a terminal chat app with a local, in-process model router."""

__version__ = "0.1.0"
