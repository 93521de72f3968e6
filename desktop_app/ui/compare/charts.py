"""Two small scatter charts drawn with QPainter (QtCharts is not in PySide6-Essentials):
quality loss against size, and speed against quality loss."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette, QPen, QResizeEvent
from PySide6.QtWidgets import QBoxLayout, QSizePolicy, QWidget

from desktop_app.core.quantlab.results import VariantResult


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    highlight: bool = False  # the reference


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks: list[float] = []
    value = start
    while (not ticks or ticks[-1] < high - step * 1e-9) and len(ticks) < 50:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _format_tick(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


class ScatterChart(QWidget):
    """Labelled points on two linear axes. The reference is drawn filled."""

    def __init__(self, title: str, x_label: str, y_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.x_label = x_label
        self.y_label = y_label
        self.points: list[Point] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(260, 200)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(380, 260)

    def set_points(self, points: Sequence[Point]) -> None:
        self.points = [p for p in points if math.isfinite(p.x) and math.isfinite(p.y)]
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text_color = palette.color(QPalette.ColorRole.WindowText)
        grid_color = QColor(text_color)
        grid_color.setAlpha(40)
        accent = palette.color(QPalette.ColorRole.Highlight)
        font = QFont(self.font())
        metrics = painter.fontMetrics()
        line = metrics.height()

        bold = QFont(font)
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(text_color)
        painter.drawText(QRectF(0, 4, self.width(), line), Qt.AlignmentFlag.AlignHCenter, self.title)
        painter.setFont(font)

        plot = QRectF(56, line + 14, self.width() - 56 - 16, self.height() - (line + 14) - 2 * line - 12)
        if plot.width() < 40 or plot.height() < 40:
            return
        if not self.points:
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "No results yet")
            return
        xs = [p.x for p in self.points]
        ys = [p.y for p in self.points]
        x_ticks = nice_ticks(min(0.0, min(xs)), max(xs))
        y_ticks = nice_ticks(min(0.0, min(ys)), max(ys))
        x0, x1 = x_ticks[0], x_ticks[-1]
        y0, y1 = y_ticks[0], y_ticks[-1]

        def to_screen(x: float, y: float) -> QPointF:
            px = plot.left() + (x - x0) / ((x1 - x0) or 1) * plot.width()
            py = plot.bottom() - (y - y0) / ((y1 - y0) or 1) * plot.height()
            return QPointF(px, py)

        for tick in x_ticks:
            p = to_screen(tick, y0)
            painter.setPen(QPen(grid_color))
            painter.drawLine(QPointF(p.x(), plot.top()), QPointF(p.x(), plot.bottom()))
            painter.setPen(text_color)
            painter.drawText(
                QRectF(p.x() - 40, plot.bottom() + 2, 80, line), Qt.AlignmentFlag.AlignHCenter, _format_tick(tick)
            )
        for tick in y_ticks:
            p = to_screen(x0, tick)
            painter.setPen(QPen(grid_color))
            painter.drawLine(QPointF(plot.left(), p.y()), QPointF(plot.right(), p.y()))
            painter.setPen(text_color)
            painter.drawText(
                QRectF(0, p.y() - line / 2, plot.left() - 6, line),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                _format_tick(tick),
            )
        painter.setPen(QPen(text_color, 1))
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        painter.drawLine(plot.bottomLeft(), plot.topLeft())
        painter.drawText(
            QRectF(plot.left(), plot.bottom() + line + 2, plot.width(), line),
            Qt.AlignmentFlag.AlignHCenter,
            self.x_label,
        )
        painter.save()
        painter.translate(12, plot.center().y())
        painter.rotate(-90)
        painter.drawText(
            QRectF(-plot.height() / 2, -line / 2, plot.height(), line), Qt.AlignmentFlag.AlignCenter, self.y_label
        )
        painter.restore()

        for point in self.points:
            p = to_screen(point.x, point.y)
            painter.setPen(QPen(accent, 2))
            painter.setBrush(accent if point.highlight else Qt.BrushStyle.NoBrush)
            painter.drawEllipse(p, 5, 5)
            painter.setPen(text_color)
            label_rect = QRectF(p.x() + 8, p.y() - line, 140, line)
            if label_rect.right() > self.width():
                label_rect.moveRight(p.x() - 8)
                painter.drawText(label_rect, Qt.AlignmentFlag.AlignRight, point.label)
            else:
                painter.drawText(label_rect, Qt.AlignmentFlag.AlignLeft, point.label)
        painter.end()


class CompareCharts(QWidget):
    """Quality loss (KL divergence) against file size, and generation speed against quality loss."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.size_chart = ScatterChart("Quality loss vs size", "file size (GB)", "KL divergence")
        self.speed_chart = ScatterChart("Speed vs quality loss", "KL divergence", "generation (tokens/s)")
        self._layout = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self.size_chart)
        self._layout.addWidget(self.speed_chart)
        # Side by side when there is room, one above the other in a narrow window: the explicit
        # minimum lets the pane be narrower than two charts, and resizeEvent then stacks them.
        self.setMinimumWidth(self.size_chart.minimumWidth())

    @property
    def stacked(self) -> bool:
        return self._layout.direction() == QBoxLayout.Direction.TopToBottom

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        room = self.size_chart.minimumWidth() + self.speed_chart.minimumWidth() + self._layout.spacing()
        direction = QBoxLayout.Direction.LeftToRight if self.width() >= room else QBoxLayout.Direction.TopToBottom
        if direction != self._layout.direction():
            self._layout.setDirection(direction)

    def set_results(self, results: Sequence[VariantResult]) -> None:
        usable = [r for r in results if r.error is None and r.kl_divergence is not None]
        self.size_chart.set_points(
            [Point(r.size_bytes / 1e9, float(r.kl_divergence or 0.0), r.quant, r.is_reference) for r in usable]
        )
        self.speed_chart.set_points(
            [
                Point(float(r.kl_divergence or 0.0), float(r.gen_tok_s), r.quant, r.is_reference)
                for r in usable
                if r.gen_tok_s is not None
            ]
        )
