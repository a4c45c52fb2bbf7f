"""attention layers."""

SPECS = ()
