"""Models behind an OpenAI-compatible HTTP server: the backend, its HTTP channel and what each server keeps of an image."""
