"""deskpilot agent: model families, parsers, backends, the step loop and sessions (no Qt, no input drivers)."""
