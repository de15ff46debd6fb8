"""Kling (Kuaishou) text- and image-to-video, as a videoprovider plugin."""
