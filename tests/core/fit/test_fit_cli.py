"""`hearth fit` and the calibration record, on the real test models (nothing is loaded here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_app.cli import run
from desktop_app.core import db, hardware
from desktop_app.core.fit import calibration
from desktop_app.core.fit import plan as fit_plan
from desktop_app.core.inference import probe as load_probe
from desktop_app.core.models import gguf_meta


def test_fit_json_has_the_plan(smollm2_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["fit", str(smollm2_path), "--ctx", "4096", "--kv", "q8_0", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in (
        "verdict",
        "gpu_layers",
        "n_layers",
        "ram_bytes",
        "vram_bytes",
        "weights_bytes",
        "kv_bytes",
        "compute_bytes",
        "max_ctx",
        "max_ctx_full_gpu",
        "breakdown",
        "notes",
    ):
        assert key in data
    expected = fit_plan.plan(gguf_meta.read_local(smollm2_path), hardware.detect(), 4096, "q8_0")
    assert data["kv_bytes"] == expected.kv_bytes == 30 * 2 * (192 // 32 * 34) * 4096
    assert data["n_ctx"] == 4096
    assert data["kv_type"] == "q8_0"
    assert data["model"]["architecture"] == "llama"


def test_fit_human_output(gemma_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["fit", str(gemma_path), "--ctx", "8192"]) == 0
    out = capsys.readouterr().out
    assert "Verdict:" in out
    for row in ("weights", "KV cache", "compute", "total", "can use"):
        assert row in out
    assert "Largest context: 32,768 tokens" in out
    assert "512 tokens" in out  # the sliding-window explanation


def test_fit_of_a_broken_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 8)
    assert run(["fit", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hearth: ")
    assert "\n" not in err


def test_fit_of_an_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["fit", "no-such-model"]) == 2
    assert "No local model" in capsys.readouterr().err


def test_calibration_record_and_history(smollm2_path: Path, gemma_path: Path) -> None:
    hw = hardware.detect()
    small = fit_plan.plan(gguf_meta.read_local(smollm2_path), hw, 2048)
    big = fit_plan.plan(gguf_meta.read_local(gemma_path), hw, 4096)
    assert calibration.history() == []
    first = calibration.record(smollm2_path, 2048, "f16", small, int(small.ram_bytes * 0.95), None)
    second = calibration.record(gemma_path, 4096, "f16", big, int(big.ram_bytes * 1.05), 123)
    rows = calibration.history()
    assert [r.id for r in rows] == [second, first]  # newest first
    assert calibration.history(smollm2_path)[0].id == first
    by_id = {r.id: r for r in rows}
    assert by_id[first].ram_error == pytest.approx(1 / 0.95 - 1, rel=1e-3)
    assert by_id[first].measured_vram is None
    assert by_id[second].architecture == "gemma3"
    assert by_id[second].quant == "Q4_K_M"
    assert by_id[second].backend == "CPU"
    summary = calibration.error_summary(rows)
    assert summary["ram"]["count"] == 2
    assert summary["ram"]["mean_abs"] == pytest.approx((abs(1 / 0.95 - 1) + abs(1 / 1.05 - 1)) / 2, rel=1e-3)
    # The full estimate is kept with each row, for later analysis.
    conn = db.connect()
    try:
        stored = conn.execute("SELECT estimate_json FROM fit_calibration WHERE id = ?", (second,)).fetchone()[0]
    finally:
        conn.close()
    assert json.loads(stored)["kv_bytes"] == big.kv_bytes


def test_measure_reports_a_failed_load(tmp_path: Path) -> None:
    from desktop_app.core.errors import HearthError

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model")
    with pytest.raises(HearthError, match="Measuring"):
        load_probe.measure(broken, 512)


def test_the_cli_run_in_process_leaves_its_hosts_log_handlers_alone(
    smollm2_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` shortens the log lines of the handler it adds, not a host's: here pytest's log capture,
    whose later records lost their tracebacks when it did (found by a test of the local server)."""
    import logging

    host_formatters = {handler: handler.formatter for handler in logging.getLogger().handlers}
    assert run(["fit", str(smollm2_path), "--json"]) == 0
    capsys.readouterr()
    assert {handler: handler.formatter for handler in host_formatters} == host_formatters
    try:
        raise RuntimeError("details for the log")
    except RuntimeError:
        logging.getLogger("hearth.test").exception("A failure")
    assert "RuntimeError: details for the log" in caplog.text
