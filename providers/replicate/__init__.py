"""Replicate provider for videoprovider: text-to-video models run through Replicate's HTTP API."""
