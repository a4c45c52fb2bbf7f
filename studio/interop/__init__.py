"""Importers: ONNX and Caffe prototxt files to editable graphs (see DESIGN.md)."""
