"""norm layers."""

SPECS = ()
