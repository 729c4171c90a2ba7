"""CLI commands: gallery."""
