"""activation layers."""

SPECS = ()
