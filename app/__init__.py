"""deskpilot app: the command line and the Qt window (the only place PySide6 is imported)."""
