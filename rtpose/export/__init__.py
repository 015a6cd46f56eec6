"""Artefacts made from a model: ONNX graphs, TensorRT engines, the detector's OpenVINO export, Triton
repositories, and their sidecars."""
