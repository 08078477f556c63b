"""The application shell: CLI, worker, dev-server launcher."""
