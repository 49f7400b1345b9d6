"""The web dashboard (server-rendered pages at ``/`` and ``/ui/…``)."""
