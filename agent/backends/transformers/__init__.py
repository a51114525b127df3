"""Models run in-process with transformers: the backend, the loading path and the local models found on disk."""
