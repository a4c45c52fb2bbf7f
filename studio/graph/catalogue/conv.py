"""conv layers."""

SPECS = ()
