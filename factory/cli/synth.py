"""CLI commands: synth."""
