"""Errors of the evaluation package (all AgentError, so the command line prints one line and exits 2).

    ConfigError (agent.errors)
    └── DatasetError      a data set or predictions file that cannot be used: names the file, the sample
                          or line, and the field

A backend's own failures stay BackendError; a reply that cannot be read is recorded on its sample, never raised.
"""

from __future__ import annotations

from agent.errors import ConfigError


class DatasetError(ConfigError):
    """A data set, image or predictions file that cannot be used; the message says what and where."""
