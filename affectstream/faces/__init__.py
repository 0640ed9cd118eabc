"""Faces: detection, landmarks, blendshapes and head pose (MediaPipe), tracking, alignment.

Import the submodules directly (``affectstream.faces.landmarker``, ``affectstream.faces.alignment``...):
importing this package does not load mediapipe.
"""
