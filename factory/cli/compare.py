"""CLI commands: compare."""
