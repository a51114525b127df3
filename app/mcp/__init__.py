"""`deskpilot mcp`: deskpilot's guarded hands offered to any agent over the Model Context Protocol.

Another agent (Claude Code, Codex, Cursor, ...) calls four tools; every action it asks for goes through the same
policy, executor, stop key and session recording as a run of deskpilot's own (docs/CONTRACT.md, `mcp`).

- hands.py: the tools' work, synchronous and protocol-free: one action at a time, the stop state, the desktop;
- journal.py: the recording of a connection's actions as a session;
- tools.py: the tools as the protocol lists them, and the reading of their arguments (one-line errors);
- server.py: the official MCP SDK's server over stdio or streamable HTTP (a bearer token), and its error shape;
- view.py: what the person sees: the run panel (the client, each call, Approve / Reject, Stop / Resume) and the
  overlay drawing each action before it happens, on the GUI thread while the server serves on a worker thread.
"""
