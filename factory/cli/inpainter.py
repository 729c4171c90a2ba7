"""CLI commands: inpainter."""
