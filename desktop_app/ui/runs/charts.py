"""The confusion matrix as a picture, drawn with QPainter: references down, outputs across,
each cell shaded by its share of the reference's row, the diagonal (right answers) in green."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

RIGHT = QColor("#16a34a")
WRONG = QColor("#dc2626")
CELL_MIN = 34
CELL_MAX = 110
MARGIN = 8


class PaintedChart(QWidget):
    """A chart drawn by its ``_draw`` on the screen and, the same way, into an image."""

    def picture(self, size: QSize | None = None) -> QImage:
        """The chart as an image (export, tests)."""
        size = size or self.size().expandedTo(self.sizeHint())
        image = QImage(size, QImage.Format.Format_ARGB32)
        image.fill(self.palette().color(QPalette.ColorRole.Base))
        painter = QPainter(image)
        self._draw(painter, size.width(), size.height())
        painter.end()
        return image

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        self._draw(painter, self.width(), self.height())
        painter.end()

    def _draw(self, painter: QPainter, width: int, height: int) -> None:
        raise NotImplementedError


class ConfusionMatrixView(PaintedChart):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels: list[str] = []  # the task's labels, in order
        self.outputs: list[str] = []  # columns: the labels, then anything else the model wrote
        self.counts: dict[str, dict[str, int]] = {}
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(220, 160)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(360, 260)

    def set_matrix(self, labels: list[str], counts: dict[str, dict[str, int]]) -> None:
        self.labels = list(labels)
        extra = sorted({out for row in counts.values() for out in row} - set(labels))
        self.outputs = self.labels + extra
        self.counts = counts
        self.update()

    def clear(self) -> None:
        self.set_matrix([], {})

    def _draw(self, painter: QPainter, width: int, height: int) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        font = QFont(self.font())
        painter.setFont(font)
        metrics = QFontMetrics(font)
        rows = [r for r in self.labels if r in self.counts] or list(self.counts)
        if not rows or not self.outputs:
            painter.setPen(text)
            painter.drawText(QRectF(0, 0, width, height), Qt.AlignmentFlag.AlignCenter, "No confusion matrix yet")
            return
        label_w = min(width // 3, max(metrics.horizontalAdvance(r) for r in rows) + 3 * MARGIN)
        header_h = metrics.height() * 2 + MARGIN
        cell_w = min(CELL_MAX, max(CELL_MIN, (width - label_w - MARGIN) / len(self.outputs)))
        cell_h = max(CELL_MIN * 0.8, min(cell_w, (height - header_h - MARGIN) / len(rows)))
        painter.setPen(text)
        small = QFont(font)
        small.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(small)
        painter.drawText(
            QRectF(label_w, 0, cell_w * len(self.outputs), metrics.height()), Qt.AlignmentFlag.AlignCenter,
            "model's output →",
        )  # fmt: skip
        painter.drawText(QRectF(0, 0, label_w, header_h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
                         "reference ↓")  # fmt: skip
        painter.setFont(font)
        for j, output in enumerate(self.outputs):
            rect = QRectF(label_w + j * cell_w, metrics.height(), cell_w, header_h - metrics.height())
            painter.drawText(
                rect,
                Qt.AlignmentFlag.AlignCenter,
                metrics.elidedText(output, Qt.TextElideMode.ElideRight, int(cell_w) - 4),
            )
        for i, reference in enumerate(rows):
            y = header_h + i * cell_h
            painter.setPen(text)
            painter.drawText(
                QRectF(0, y, label_w - MARGIN, cell_h), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                metrics.elidedText(reference, Qt.TextElideMode.ElideRight, label_w - MARGIN),
            )  # fmt: skip
            row = self.counts.get(reference, {})
            total = sum(row.values()) or 1
            for j, output in enumerate(self.outputs):
                count = row.get(output, 0)
                rect = QRectF(label_w + j * cell_w, y, cell_w, cell_h).adjusted(1, 1, -1, -1)
                color = QColor(RIGHT if output == reference else WRONG)
                color.setAlphaF(0.08 + 0.8 * count / total if count else 0.04)
                painter.fillRect(rect, color)
                painter.setPen(QColor("#ffffff") if count / total > 0.55 else text)
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(count))
