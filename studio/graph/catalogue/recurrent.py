"""recurrent layers."""

SPECS = ()
