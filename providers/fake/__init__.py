"""An offline, deterministic videoprovider plugin for tests and first runs."""
