"""Training: datasets, the engine, the child-process worker and run history (see docs/architecture.md)."""
