"""merge layers."""

SPECS = ()
