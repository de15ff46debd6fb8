"""pytest plugin (entry point `pytest11`): DashScope emulator fixtures for host applications."""
