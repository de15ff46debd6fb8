"""videoprovider plugin for Alibaba Cloud Model Studio (DashScope) Wan video models."""
