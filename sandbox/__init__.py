"""deskpilot sandbox: the closed action vocabulary, geometry, policy, executor and capture (the trust anchor)."""
