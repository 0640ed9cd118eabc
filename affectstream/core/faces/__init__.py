"""Faces: detection, landmarks, blendshapes and head pose (MediaPipe), tracking, alignment.

Import the submodules directly (``affectstream.core.faces.landmarker``, ``affectstream.core.faces.alignment``...):
importing this package does not load mediapipe.
"""
