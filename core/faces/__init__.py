"""Faces: detection, landmarks, blendshapes and head pose (MediaPipe), tracking, alignment.

Import the submodules directly (``core.faces.landmarker``, ``core.faces.alignment``...):
importing this package does not load mediapipe.
"""
