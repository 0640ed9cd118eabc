"""The video with each face's box, id and top expression, optional landmarks, and a message line.

Overlays live in image coordinates inside one ViewBox, so they stay on the faces
whatever the widget's size. Box and label items are pooled: a frame with fewer
faces hides the spare ones instead of rebuilding them.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGraphicsRectItem

from affectstream.app.theme import Theme
from affectstream.core.results.types import FaceAffect


def face_caption(face: FaceAffect) -> str:
    return f"#{face.track_id} {face.expression} {face.expression_probability(face.expression):.0%}"


class VideoView(pg.GraphicsView):
    def __init__(self, theme: Theme) -> None:
        super().__init__(background=theme.background)
        self.theme = theme
        self.box = pg.ViewBox(lockAspect=True, invertY=True, enableMouse=False, enableMenu=False)
        self.box.setDefaultPadding(0.0)
        self.setCentralItem(self.box)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.image)
        self.landmarks = pg.ScatterPlotItem(size=2.5, pen=pg.mkPen(None), brush=pg.mkBrush(theme.landmarks),
                                            pxMode=True)
        self.box.addItem(self.landmarks)
        self._rects: list[QGraphicsRectItem] = []
        self._labels: list[pg.TextItem] = []
        self._font = QFont()
        self._font.setPointSize(theme.font_pt + 1)
        self._font.setBold(True)
        self.message = pg.TextItem("", color=theme.foreground, anchor=(0.5, 0.5),
                                   fill=pg.mkBrush(0, 0, 0, 170))
        message_font = QFont()
        message_font.setPointSize(theme.title_pt + 2)
        self.message.setFont(message_font)
        self.message.setZValue(10)
        self.box.addItem(self.message)
        self.frame_number: int | None = None  # the frame on screen (tests and review read it)
        self._size: tuple[int, int] | None = None
        self.set_message("No video")

    def show_frame(self, image_bgr: np.ndarray, faces: Sequence[FaceAffect], followed: int | None,
                   show_landmarks: bool, frame_number: int | None = None) -> None:
        # Contiguous 8-bit RGB without levels: pyqtgraph turns it into a QImage without rescaling.
        self.image.setImage(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB), autoLevels=False)
        height, width = image_bgr.shape[:2]
        if self._size != (width, height):
            self._size = (width, height)
            self.box.setRange(xRange=(0, width), yRange=(0, height), padding=0)
            self.message.setPos(width / 2, height / 2)
        self.frame_number = frame_number
        self._show_faces(faces, followed)
        points = [f.landmarks[:, :2] for f in faces if show_landmarks and f.landmarks is not None]
        if points:
            xy = np.concatenate(points)
            self.landmarks.setData(x=xy[:, 0], y=xy[:, 1])
        elif self.landmarks.isVisible():
            self.landmarks.clear()
        self.landmarks.setVisible(bool(points))  # an empty scatter still costs a paint per frame

    def _show_faces(self, faces: Sequence[FaceAffect], followed: int | None) -> None:
        while len(self._rects) < len(faces):
            rect = QGraphicsRectItem()
            rect.setZValue(5)
            self.box.addItem(rect)
            label = pg.TextItem("", anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 160))
            label.setFont(self._font)
            label.setZValue(6)
            self.box.addItem(label)
            self._rects.append(rect)
            self._labels.append(label)
        for rect, label in zip(self._rects[len(faces):], self._labels[len(faces):]):
            rect.setVisible(False)
            label.setVisible(False)
        placed: list[QRectF] = []  # label rectangles so far (image coordinates), left to right
        order = sorted(range(len(faces)), key=lambda k: faces[k].box[0])
        pixel_w, pixel_h = self.box.viewPixelSize()  # image units per screen pixel
        for k in order:
            face, rect, label = faces[k], self._rects[k], self._labels[k]
            x0, y0, x1, y1 = face.box
            colour = self.theme.followed if face.track_id == followed else self.theme.face
            pen = pg.mkPen(colour, width=3 if face.track_id == followed else 2)
            pen.setCosmetic(True)
            rect.setPen(pen)
            rect.setRect(x0, y0, x1 - x0, y1 - y0)
            label.setText(face_caption(face), color=colour)
            rect.setVisible(True)
            label.setVisible(True)
            # Above the box; below it when that would cover the label of a face further left.
            size = label.textItem.boundingRect()
            width, height = size.width() * pixel_w, size.height() * pixel_h
            area = QRectF(x0, y0 - height, width, height)
            if any(area.intersects(other) for other in placed):
                area = QRectF(x0, y1, width, height)
                label.setAnchor((0, 0))
                label.setPos(x0, y1)
            else:
                label.setAnchor((0, 1))
                label.setPos(x0, y0)
            placed.append(area)

    def set_message(self, text: str, error: bool = False) -> None:
        """A line over the middle of the video ("" hides it): no video yet, camera lost, no face."""
        self.message.setText(text, color=self.theme.error if error else self.theme.foreground)
        self.message.setVisible(bool(text))
        if self._size is None:
            # No frame yet: centre the message in a 16:9 placeholder.
            self.box.setRange(xRange=(0, 640), yRange=(0, 360), padding=0)
            self.message.setPos(320, 180)

    @property
    def message_text(self) -> str:
        return self.message.toPlainText() if self.message.isVisible() else ""

    def visible_boxes(self) -> list[tuple[float, float, float, float]]:
        return [(r.rect().x(), r.rect().y(), r.rect().right(), r.rect().bottom())
                for r in self._rects if r.isVisible()]

    def clear(self) -> None:
        self.image.clear()
        self.landmarks.clear()
        self._show_faces((), None)
        self.frame_number = None
        self._size = None
