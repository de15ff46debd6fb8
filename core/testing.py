"""pytest plugin (entry point `pytest11`): fixtures for host applications. Filled in below."""
