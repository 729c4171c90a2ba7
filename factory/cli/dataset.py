"""CLI commands: dataset."""
