"""Tests of the importers (ONNX here; Caffe in its own files)."""
