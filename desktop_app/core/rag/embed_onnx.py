"""The ONNX embedding backend: the sentence-transformers model exported once, run by onnxruntime.

How the export is made, and why (measured on a 2-core CPU, issue 13):
- the model is loaded with *eager* attention and exported by PyTorch's TorchScript exporter,
  mean pooling and normalisation included, then fused by onnxruntime's transformer optimizer
  (Attention, SkipLayerNormalization, BiasGelu). The default sdpa attention exports to a graph
  that does not fuse and gains only 1.4x; fused, it is about 1.8x PyTorch with the same vectors;
- every export is checked against PyTorch on probe sentences before it is kept (cosine >= 0.9999
  for fp32), so a bad export is never used;
- the int8 variant quantises the fused fp32 graph's weights (dynamic, per channel: per tensor
  loses a quarter of the top-5 neighbours).

Exports are made from the local model files only (nothing is downloaded), once per model and
export format, and cached in the data folder (``onnx/``; ``HEARTH_ONNX_CACHE`` overrides it);
a frozen installer may ship them ready in ``hearth-onnx/`` (``python -m
desktop_app.core.rag.embed_onnx OUT_DIR`` makes them). Making one needs PyTorch and the
``onnx`` package; running one needs only onnxruntime and tokenizers (PyTorch is not imported).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core import paths
from desktop_app.core.errors import HearthError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

EXPORT_VERSION = 1
OPSET = 17
META = "hearth-onnx.json"
MODEL_FILE = "model.onnx"
MIN_COSINE = {"fp32": 0.9999, "int8": 0.95}
# Short and long (truncated), so padding and truncation are checked too.
PROBES = (
    "The centrifuge must run at 4,500 rpm for 12 minutes.",
    "Which foundation pays for the reagents?",
    "Le café du laboratoire coûte deux euros.",
    "def dilution(stock: float, target: float) -> float: return stock / target",
    " ".join(["Samples are stored at minus eighty degrees in freezer 3, rack C."] * 40),
)
_EXPORT_LOCK = threading.Lock()


def cache_root() -> Path:
    override = os.environ.get("HEARTH_ONNX_CACHE")
    return Path(override).expanduser() if override else paths.home() / "onnx"


def bundled_root() -> Path | None:
    """Exports shipped inside a frozen installer (read only)."""
    frozen = getattr(sys, "_MEIPASS", None)
    return Path(frozen) / "hearth-onnx" if frozen else None


def folder_name(model_id: str, precision: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '-', model_id).strip('-')}-{precision}-v{EXPORT_VERSION}"


def _valid(folder: Path, model_id: str) -> bool:
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        meta.get("model_id") == model_id
        and meta.get("export_version") == EXPORT_VERSION
        and (folder / MODEL_FILE).is_file()
        and (folder / "tokenizer.json").is_file()
    )


def find_export(model_id: str, precision: str = "fp32") -> Path | None:
    """A finished export of ``model_id`` (``fp32`` or ``int8``), shipped or cached; None if none."""
    roots = [r for r in (bundled_root(), cache_root()) if r is not None]
    for root in roots:
        folder = root / folder_name(model_id, precision)
        if _valid(folder, model_id):
            return folder
    return None


def ensure_export(location: Path | str, model_id: str, precision: str = "fp32") -> Path:
    """The export folder for the model at ``location``, made now if there is none (seconds to a
    minute, once). Raises HearthError in plain words when it cannot be made."""
    found = find_export(model_id, precision)
    if found is not None:
        return found
    with _EXPORT_LOCK:  # one export at a time in this process; another process may race: see _publish
        found = find_export(model_id, precision)
        if found is not None:
            return found
        started = time.perf_counter()
        try:
            if precision == "int8":
                folder = _export_int8(ensure_export_fp32_unlocked(location, model_id), model_id)
            else:
                folder = ensure_export_fp32_unlocked(location, model_id)
        except HearthError:
            raise
        except ImportError as exc:
            raise HearthError(
                "The fast embedding backend (ONNX) cannot be prepared on this installation.",
                f"Choose the PyTorch backend in Settings → Documents, or install the missing package ({exc.name}).",
            ) from None
        except Exception as exc:
            log.warning("ONNX export of %s failed", model_id, exc_info=True)
            raise HearthError(
                "The embedding model could not be converted for the fast backend (ONNX).",
                f"Choose the PyTorch backend in Settings → Documents. Details: {str(exc).splitlines()[0][:200]}",
            ) from None
        log.info("Prepared the %s ONNX export of %s in %.1f s", precision, model_id, time.perf_counter() - started)
        return folder


def ensure_export_fp32_unlocked(location: Path | str, model_id: str) -> Path:
    found = find_export(model_id, "fp32")
    return found if found is not None else _export_fp32(location, model_id)


@contextlib.contextmanager
def _staging(model_id: str, precision: str) -> Any:
    """A fresh folder beside the cache's final one; published by _publish, removed otherwise."""
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".tmp-{uuid.uuid4().hex[:12]}"
        tmp.mkdir()
    except OSError as exc:
        raise HearthError(
            f"Hearth cannot write the fast embedding model in “{root}”: {exc.strerror or exc}.",
            "Free some disk space, or choose the PyTorch backend in Settings → Documents.",
        ) from None
    try:
        yield tmp, root / folder_name(model_id, precision)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, final: Path, model_id: str) -> Path:
    """Moves a finished export into place in one step; if another process was first, keeps its."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not _valid(final, model_id):
            raise
    return final


def _export_fp32(location: Path | str, model_id: str) -> Path:
    import numpy as np
    import onnx  # noqa: F401 - needed by the optimizer; fail early, with its name, when missing
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    with _staging(model_id, "fp32") as (tmp, final):  # first: fail before the model loads
        model = SentenceTransformer(
            str(location), device="cpu", local_files_only=True, model_kwargs={"attn_implementation": "eager"}
        )
        model.eval()
        preprocess = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 6
        features = preprocess(list(PROBES[:2]))
        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in features]

        class Wrapper(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *tensors: Any) -> Any:
                return self.model(dict(zip(names, tensors, strict=True)))["sentence_embedding"]

        raw = tmp / "raw.onnx"
        axes = {n: {0: "batch", 1: "tokens"} for n in names}
        axes["embedding"] = {0: "batch"}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Wrapper().eval(), tuple(features[n] for n in names), str(raw), input_names=names,
                output_names=["embedding"], dynamic_axes=axes, opset_version=OPSET, dynamo=False,
            )  # fmt: skip
        from onnxruntime.transformers.optimizer import optimize_model

        # The attention fusion needs the head count and width (it does not find them in the graph).
        config = getattr(getattr(model[0], "auto_model", None), "config", None)
        heads = int(getattr(config, "num_attention_heads", 0) or 0)
        width = int(getattr(config, "hidden_size", 0) or 0)
        fused = optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=width, opt_level=1)
        stats = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
        fused.save_model_to_file(str(tmp / MODEL_FILE))
        raw.unlink()
        tokenizer = model.tokenizer
        get_dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        (tmp / "tokenizer.json").write_text(tokenizer.backend_tokenizer.to_str(), encoding="utf-8")
        meta = {
            "export_version": EXPORT_VERSION,
            "model_id": model_id,
            "precision": "fp32",
            "max_seq_length": int(model.max_seq_length or 256),
            "dimension": int(get_dimension() or 0),
            "inputs": names,
            "pad_id": int(tokenizer.pad_token_id or 0),
            "pad_token": str(tokenizer.pad_token or "[PAD]"),
            "fused": stats,
            "torch": torch.__version__,
            "created_at": time.time(),
        }
        (tmp / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        reference = np.asarray(model.encode(list(PROBES), normalize_embeddings=True), dtype=np.float32)
        worst = _check(OnnxRunner(tmp), reference, "fp32")
        meta["min_cosine_vs_torch"] = worst
        (tmp / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return _publish(tmp, final, model_id)


def _export_int8(fp32: Path, model_id: str) -> Path:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    reference = OnnxRunner(fp32).encode(PROBES)
    with _staging(model_id, "int8") as (tmp, final):
        quiet = _DropAdvice()
        logging.getLogger().addFilter(quiet)  # the quantiser logs "consider pre-processing" on the root logger
        try:
            quantize_dynamic(
                str(fp32 / MODEL_FILE), str(tmp / MODEL_FILE), weight_type=QuantType.QInt8, per_channel=True,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # fused ops' outputs carry no type
            )  # fmt: skip
        finally:
            logging.getLogger().removeFilter(quiet)
        shutil.copy2(fp32 / "tokenizer.json", tmp / "tokenizer.json")
        meta = json.loads((fp32 / META).read_text(encoding="utf-8"))
        meta.update(precision="int8", created_at=time.time())
        (tmp / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        meta["min_cosine_vs_fp32"] = _check(OnnxRunner(tmp), reference, "int8")
        (tmp / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return _publish(tmp, final, model_id)


class _DropAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()


def _check(runner: OnnxRunner, reference: np.ndarray, precision: str) -> float:
    import numpy as np

    worst = float(np.min(np.sum(runner.encode(PROBES) * reference, axis=1)))
    runner.close()
    if worst < MIN_COSINE[precision]:
        raise HearthError(
            "The converted embedding model does not make the same vectors as the original.",
            f"Choose the PyTorch backend in Settings → Documents (lowest cosine {worst:.4f}).",
        )
    return round(worst, 6)


class OnnxRunner:
    """One export loaded in onnxruntime, with the model's own tokenizer (Rust ``tokenizers``).

    Tokenisation matches sentence-transformers': the model's special tokens, truncation at its
    maximum sequence length, padding to the longest text of the batch."""

    def __init__(self, folder: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = folder
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        self.meta = meta
        self.max_seq_length = int(meta["max_seq_length"])
        self.dimension = int(meta["dimension"])
        self.inputs = [str(n) for n in meta["inputs"]]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.enable_padding(pad_id=int(meta["pad_id"]), pad_token=str(meta["pad_token"]))
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Idle worker threads sleep instead of spinning: the reader and Chroma's writes need the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session: Any = ort.InferenceSession(str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"])

    def plain_tokenizer(self) -> Any:
        """A copy of the tokenizer without padding or truncation (for token offsets)."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        import numpy as np

        encodings = self.tokenizer.encode_batch(list(texts))
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        feeds = {name: np.asarray(columns[name], dtype=np.int64) for name in self.inputs}
        vectors = np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def close(self) -> None:
        self.session = None
