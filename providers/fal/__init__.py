"""videoprovider_fal: fal.ai queue endpoints (Kling, Veo, Wan, Hailuo, LTX) as a plugin."""
