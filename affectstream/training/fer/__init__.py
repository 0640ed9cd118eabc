"""FER2013 expression backbone: data, augmentation, model, training, evaluation, export, peer comparison.

Training-side only (torch); the run-time side is affectstream.core.features.expression_cnn (onnxruntime, no torch).
"""
