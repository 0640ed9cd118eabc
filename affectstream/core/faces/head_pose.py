"""Head pose (yaw, pitch, roll) from MediaPipe's facial transformation matrix."""

from __future__ import annotations

import math

import numpy as np

from affectstream.core.faces.types import HeadPose


def head_pose_from_matrix(matrix: np.ndarray) -> HeadPose:
    """Euler angles in degrees of the matrix's rotation, as R = Rz(roll) Ry(yaw) Rx(pitch).

    The matrix maps MediaPipe's canonical face (x right, y up, z towards the
    camera) into camera space; its upper-left 3x3 block is a rotation, possibly
    times a scale, which is divided out.
    """
    rotation = np.asarray(matrix, dtype=np.float64)[:3, :3]
    scale = np.cbrt(abs(np.linalg.det(rotation)))
    if not np.isfinite(scale) or scale < 1e-9:
        raise ValueError("degenerate facial transformation matrix")
    r = rotation / scale
    pitch = math.atan2(r[2, 1], r[2, 2])
    yaw = math.atan2(-r[2, 0], math.hypot(r[2, 1], r[2, 2]))
    roll = math.atan2(r[1, 0], r[0, 0])
    return HeadPose(yaw=math.degrees(yaw), pitch=math.degrees(pitch), roll=math.degrees(roll))


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The inverse of head_pose_from_matrix: a 4x4 matrix for the given angles (degrees)."""
    y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    out = np.eye(4)
    out[:3, :3] = rz @ ry @ rx
    return out
