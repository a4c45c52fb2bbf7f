"""The Qt editor: canvas, palette, inspector, problems, code preview, training panel (see DESIGN.md)."""
