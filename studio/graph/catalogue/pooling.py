"""pooling layers."""

SPECS = ()
