"""Emitters: graph to PyTorch, Keras 3, ONNX, Caffe (prototxt and .caffemodel) and a training script (see docs/architecture.md)."""
