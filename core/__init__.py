"""videoprovider: one small interface for AI text-to-video services."""
