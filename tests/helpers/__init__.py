"""Helpers shared by the tests, imported as `tests.helpers.<module>` (pyproject puts the root on sys.path).

Display tests: target.py (TargetWindow, the logging target app) and xorg.py (a two-monitor dummy Xorg).
"""
