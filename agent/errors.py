"""Errors of the agent layer.

    AgentError                 base of everything raised on purpose in agent/
    ├── ConfigError            a bad family, size budget, backend option or script file
    ├── ParseError             a model reply that is not well formed (quotes the offending part)
    ├── BackendError           a model backend failed (load, HTTP, generation)
    │   └── ScriptExhausted    the scripted backend has no replies left
    └── SessionError           a session folder that cannot be read or written (names file and line)

Policy refusals are values (sandbox.policy), not errors.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every deliberate error in the agent layer."""


class ConfigError(AgentError, ValueError):
    """A configuration value that cannot be used."""


class ParseError(AgentError, ValueError):
    """A model reply that cannot be turned into actions; never becomes 'finish' or a guessed point."""


class BackendError(AgentError):
    """A model backend failed."""


class SessionError(AgentError):
    """A session folder that cannot be read or written."""


class ScriptExhausted(BackendError):
    """The scripted backend ran out of replies before the task finished."""
