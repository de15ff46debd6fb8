"""Google Veo (Gemini API) provider for videoprovider."""
