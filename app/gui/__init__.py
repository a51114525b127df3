"""The Qt window and its widgets (the only package that imports PySide6)."""
