"""Sessions: every run recorded into a folder (recorder), read back (reader), replayed through the sandbox
(replay), exported as a script, a report or training data (export, report). Format: docs/sessions.md."""

from agent.session.format import default_sessions_dir, new_session_folder, prepare_record_dir
from agent.session.reader import Session, SessionSummary, delete_session, list_sessions, read_session
from agent.session.recorder import SessionRecorder

__all__ = [
    "Session",
    "SessionRecorder",
    "SessionSummary",
    "default_sessions_dir",
    "delete_session",
    "list_sessions",
    "new_session_folder",
    "prepare_record_dir",
    "read_session",
]
