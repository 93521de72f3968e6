"""The fit in plain words (issue 21, item 8): the estimate's error is shown as a figure, and the
notes avoid llama.cpp's internal names."""

from __future__ import annotations

from desktop_app.core.fit import calibration
from desktop_app.core.fit.calibration import CalibrationRecord


def _record(estimated: int, measured: int) -> CalibrationRecord:
    return CalibrationRecord(1, 0.0, "/m.gguf", "m", "llama", "Q4_K_M", 2048, "f16", 0, "CPU", "0.3", estimated,
                             measured, 0, None)  # fmt: skip


def test_the_estimates_error_is_a_figure() -> None:
    assert "No model has been loaded here yet" in calibration.error_words([])
    words = calibration.error_words([_record(110, 100), _record(95, 100)])
    assert words == (
        "Over the last 2 loads on this computer the memory estimate was off by 8% on average "
        "(at most 10%, over the measured figure)."
    )
    assert "under the measured figure" in calibration.error_words([_record(80, 100)])
