"""The deployment check: an exported file run in its runtime and compared with PyTorch (`verify_export` in check.py)."""
