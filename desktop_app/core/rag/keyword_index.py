"""A collection's keyword (BM25) index, kept on disk next to Chroma and updated file by file.

Why: reading every chunk back from Chroma and indexing it took ~13 s at 100,000 chunks, the
wait of the first question after every change. Here the index lives with the collection; when
the collection changed (its revision went up), only the files added, replaced or removed since
are read and applied. BM25 is computed at query time from term counts, chunk lengths and term
document frequencies (nothing precomputed that depends on the whole collection), so an index
updated in place scores exactly like a fresh build: the same N, average length, df, arithmetic.

Scoring is bm25s's "lucene" variant (k1 1.5, b 0.75): idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
term score = idf * tf / (tf + k1 * (1 - b + b * len / avg_len)). Ties are ordered by chunk id.

On disk, ``<chroma>/hearth-bm25/<store name>/``:
- ``base-<token>.npz`` + ``.json``: a compacted index (postings grouped by term) with its
  chunk ids and terms;
- ``state.json``: the revision it matches, each file's version and slots, slots removed since
  the base, the postings added since (the delta), and the crc32 of the base's arrays.
Every file is written to a temporary name and renamed; anything missing, damaged or not
matching means a silent rebuild from Chroma.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import secrets
import shutil
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zipfile import BadZipFile

from desktop_app.core.rag.vectors import chunk_text

if TYPE_CHECKING:
    import numpy as np

    from desktop_app.core.rag.catalog import CollectionInfo, FileRecord
    from desktop_app.core.rag.store import DocumentStore

log = logging.getLogger(__name__)

FORMAT = 1
K1 = 1.5
B = 0.75
FETCH_BATCH = 50  # files per Chroma get when catching up
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves""".split()  # noqa: SIM905 - a word list reads better as text
)
_WORD = re.compile(r"\w+", re.UNICODE)


def keyword_tokens(text: str) -> list[str]:
    """Lower-cased words without stop words: the terms BM25 matches on."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def chunk_terms(meta: dict[str, Any], text: str) -> list[str]:
    """What a chunk is indexed under: its file name, heading and text."""
    return keyword_tokens(f"{meta.get('name', '')} {meta.get('heading', '')} {text}")


def version_key(record: FileRecord) -> str:
    """Changes whenever the file's chunks may have: a new version, or the same one indexed again."""
    return f"{record.sha256}|{record.indexed_at}|{record.chunks}"


class KeywordIndex:
    """BM25 postings of one collection: a compacted base plus a delta of the files added since."""

    def __init__(self) -> None:
        import numpy as np

        self.revision = -1
        self.ids: list[str] = []  # slot -> chunk id
        self.lengths = np.zeros(0, dtype=np.int32)
        self.alive = np.zeros(0, dtype=bool)
        self.position: dict[str, int] = {}  # chunk id -> its live slot
        self.files: dict[str, tuple[str, int, int]] = {}  # path -> (version key, first slot, end slot)
        self.vocab: dict[str, int] = {}  # term -> row in the base
        self.ptr = np.zeros(1, dtype=np.int64)
        self.docs = np.zeros(0, dtype=np.int32)
        self.tf = np.zeros(0, dtype=np.uint16)
        self.n_base = 0  # slots held by the base
        self.delta: dict[str, list[int]] = {}  # term -> [slot, tf, slot, tf, ...] added since the base
        self.base_token = ""

    # -- contents -----------------------------------------------------------------------------------

    @property
    def live(self) -> int:
        return int(self.alive.sum())

    def add_file(self, path: str, key: str, chunks: Sequence[tuple[str, list[str]]]) -> None:
        """Appends a file's chunks (id, terms) to the delta."""
        import numpy as np

        self.remove_file(path)
        first = len(self.ids)
        lengths = []
        for offset, (chunk, terms) in enumerate(chunks):
            slot = first + offset
            self.ids.append(chunk)
            self.position[chunk] = slot
            lengths.append(len(terms))
            for term, count in Counter(terms).items():
                self.delta.setdefault(term, []).extend((slot, min(count, 65535)))
        self.lengths = np.concatenate([self.lengths, np.asarray(lengths, dtype=np.int32)])
        self.alive = np.concatenate([self.alive, np.ones(len(lengths), dtype=bool)])
        self.files[path] = (key, first, len(self.ids))

    def remove_file(self, path: str) -> None:
        entry = self.files.pop(path, None)
        if entry is None:
            return
        _, first, end = entry
        self.alive[first:end] = False
        for slot in range(first, end):
            if self.position.get(self.ids[slot]) == slot:
                del self.position[self.ids[slot]]

    def needs_compacting(self) -> bool:
        dead = len(self.ids) - self.live
        added = len(self.ids) - self.n_base
        return dead > max(1000, len(self.ids) // 4) or added > max(2000, self.n_base // 10)

    def compact(self) -> None:
        """Folds the delta and removals into a new base (in memory, no reading from Chroma)."""
        import numpy as np

        terms = list(self.vocab) + [t for t in self.delta if t not in self.vocab]
        row = {t: i for i, t in enumerate(terms)}
        base_rows = np.repeat(np.arange(len(self.vocab), dtype=np.int64), np.diff(self.ptr))
        delta_rows: list[int] = []
        delta_pairs: list[int] = []
        for term, pairs in self.delta.items():
            delta_rows.extend([row[term]] * (len(pairs) // 2))
            delta_pairs.extend(pairs)
        pairs_array = np.asarray(delta_pairs, dtype=np.int64).reshape(-1, 2)
        rows = np.concatenate([base_rows, np.asarray(delta_rows, dtype=np.int64)])
        docs = np.concatenate([self.docs.astype(np.int64), pairs_array[:, 0]])
        tf = np.concatenate([self.tf.astype(np.int64), pairs_array[:, 1]])
        keep = self.alive[docs]
        before = np.concatenate([[0], np.cumsum(self.alive)])  # live slots before each slot: its new number
        self._set_base(terms, rows[keep], before[docs[keep]], tf[keep])
        self.ids = [chunk for chunk, live in zip(self.ids, self.alive.tolist(), strict=True) if live]
        self.lengths = self.lengths[self.alive]
        self.files = {p: (key, int(before[a]), int(before[a]) + (b - a)) for p, (key, a, b) in self.files.items()}
        self.alive = np.ones(len(self.ids), dtype=bool)
        self.position = {chunk: i for i, chunk in enumerate(self.ids)}
        self.n_base = len(self.ids)
        self.delta = {}

    def _set_base(self, terms: list[str], rows: np.ndarray, docs: np.ndarray, tf: np.ndarray) -> None:
        import numpy as np

        order = np.argsort(rows, kind="stable")
        rows, docs, tf = rows[order], docs[order], tf[order]
        counts = np.bincount(rows, minlength=len(terms))
        used = np.flatnonzero(counts)  # terms whose chunks are all gone are dropped
        self.vocab = {terms[i]: n for n, i in enumerate(used.tolist())}
        self.ptr = np.concatenate([[0], np.cumsum(counts[used])]).astype(np.int64)
        self.docs = docs.astype(np.int32)
        self.tf = tf.astype(np.uint16)
        self.base_token = ""  # not on disk yet

    # -- scoring ------------------------------------------------------------------------------------

    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        parts_d: list[np.ndarray] = []
        parts_t: list[np.ndarray] = []
        row = self.vocab.get(term)
        if row is not None:
            a, b = int(self.ptr[row]), int(self.ptr[row + 1])
            parts_d.append(self.docs[a:b].astype(np.int64))
            parts_t.append(self.tf[a:b].astype(np.float64))
        pairs = self.delta.get(term)
        if pairs:
            array = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
            parts_d.append(array[:, 0])
            parts_t.append(array[:, 1].astype(np.float64))
        if not parts_d:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        docs, tf = np.concatenate(parts_d), np.concatenate(parts_t)
        keep = self.alive[docs]
        return docs[keep], tf[keep]

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 of every slot for the query's terms (0 for removed slots), float32."""
        import numpy as np

        out = np.zeros(len(self.ids), dtype=np.float64)
        n = self.live
        if not n or not terms:
            return out.astype(np.float32)
        avg_len = float(self.lengths[self.alive].sum()) / n
        for term in terms:
            docs, tf = self._postings(term)
            if not len(docs):
                continue
            df = len(docs)
            idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
            norm = K1 * (1.0 - B + B * self.lengths[docs] / avg_len)
            out[docs] += idf * tf / (tf + norm)
        return out.astype(np.float32)

    def top(self, scores: np.ndarray, n: int) -> list[str]:
        """The ``n`` best chunk ids with a score above 0, best first, ties by chunk id."""
        import numpy as np

        slots = np.flatnonzero(scores > 0)
        if len(slots) > n:
            kth = np.partition(scores[slots], len(slots) - n)[len(slots) - n]
            slots = slots[scores[slots] >= kth]
        ranked = sorted(slots.tolist(), key=lambda s: (-float(scores[s]), self.ids[s]))
        return [self.ids[s] for s in ranked[:n]]

    # -- disk ---------------------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Writes what changed: the base when it is new, then the state (the commit point)."""
        import numpy as np

        folder.mkdir(parents=True, exist_ok=True)
        if not self.base_token or not (folder / f"base-{self.base_token}.npz").is_file():
            token = secrets.token_hex(6)
            arrays = {"ptr": self.ptr, "docs": self.docs, "tf": self.tf, "lengths": self.lengths[: self.n_base]}
            tmp = folder / f"base-{token}.tmp.npz"
            np.savez(tmp, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, folder / f"base-{token}.npz")
            meta = {"ids": self.ids[: self.n_base], "vocab": list(self.vocab), "crc": _crc(arrays)}
            _write_json(folder / f"base-{token}.json", meta)
            self.base_token = token
        extra = slice(self.n_base, None)
        state = {
            "format": FORMAT,
            "revision": self.revision,
            "base": self.base_token,
            "n_base": self.n_base,
            "extra_ids": self.ids[extra],
            "extra_lengths": self.lengths[extra].tolist(),
            "dead": np.flatnonzero(~self.alive).tolist(),
            "files": self.files,
            "delta": self.delta,
        }
        _write_json(folder / "state.json", state)
        for old in folder.iterdir():  # earlier bases, and what an older version of Hearth kept here
            if not old.name.startswith(f"base-{self.base_token}.") and old.name != "state.json":
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.unlink(missing_ok=True)

    def copy(self) -> KeywordIndex:
        """A twin to change while searches go on reading this one (the base arrays are shared:
        changes never write into them)."""
        twin = copy.copy(self)
        twin.ids = list(self.ids)
        twin.alive = self.alive.copy()
        twin.position = dict(self.position)
        twin.files = dict(self.files)
        twin.delta = {term: list(pairs) for term, pairs in self.delta.items()}
        return twin

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex:
        """The saved index; ValueError when anything is missing, damaged or inconsistent."""
        try:
            return cls._load(folder)
        except (OSError, KeyError, TypeError, IndexError, AttributeError, EOFError, BadZipFile, zlib.error) as exc:
            raise ValueError(f"{type(exc).__name__}: {exc}") from exc

    @classmethod
    def _load(cls, folder: Path) -> KeywordIndex:
        import numpy as np

        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        if state.get("format") != FORMAT:
            raise ValueError("an older format")
        token = str(state["base"])
        meta = json.loads((folder / f"base-{token}.json").read_text(encoding="utf-8"))
        with open(folder / f"base-{token}.npz", "rb") as file, np.load(file, allow_pickle=False) as data:
            arrays = {name: data[name] for name in ("ptr", "docs", "tf", "lengths")}
        if _crc(arrays) != meta.get("crc"):
            raise ValueError("the base does not match its checksum")
        index = cls()
        index.base_token = token
        index.revision = int(state["revision"])
        index.n_base = int(state["n_base"])
        index.ids = list(meta["ids"]) + list(state["extra_ids"])
        index.lengths = np.concatenate(
            [arrays["lengths"].astype(np.int32), np.asarray(state["extra_lengths"], dtype=np.int32)]
        )
        index.vocab = {term: i for i, term in enumerate(meta["vocab"])}
        index.ptr, index.docs, index.tf = arrays["ptr"], arrays["docs"], arrays["tf"]
        index.delta = {str(t): [int(v) for v in pairs] for t, pairs in state["delta"].items()}
        index.files = {str(p): (str(k), int(a), int(b)) for p, (k, a, b) in state["files"].items()}
        n = len(index.ids)
        consistent = (
            len(meta["ids"]) == index.n_base == len(arrays["lengths"])
            and len(index.lengths) == n
            and len(index.ptr) == len(index.vocab) + 1
            and int(index.ptr[-1]) == len(index.docs) == len(index.tf)
            and (not len(index.docs) or int(index.docs.max()) < index.n_base)
            and all(0 <= int(s) < n for pairs in index.delta.values() for s in pairs[::2])
            and all(0 <= a <= b <= n for _, a, b in index.files.values())
        )
        if not consistent:
            raise ValueError("its parts do not agree")
        index.alive = np.ones(n, dtype=bool)
        dead = np.asarray(state["dead"], dtype=np.int64)
        if len(dead) and (dead.min() < 0 or dead.max() >= n):
            raise ValueError("its parts do not agree")
        index.alive[dead] = False
        index.position = {chunk: i for i, chunk in enumerate(index.ids) if index.alive[i]}
        return index


def _crc(arrays: dict[str, Any]) -> dict[str, int]:
    return {name: zlib.crc32(memoryview(array).cast("B")) for name, array in sorted(arrays.items())}


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


# -- keeping it in step with the collection -----------------------------------------------------------


def _indexed_records(store: DocumentStore, info: CollectionInfo) -> dict[str, FileRecord]:
    return {path: r for path, r in store.file_map(info).items() if r.status == "indexed"}


def build(store: DocumentStore, info: CollectionInfo) -> KeywordIndex:
    """A fresh index of every chunk of the indexed file versions (reads the whole collection)."""
    import numpy as np

    records = _indexed_records(store, info)
    by_file: dict[str, list[tuple[str, list[str]]]] = {}
    for ids, metadatas, documents in store.iter_chunks(info):
        for chunk, meta, text in zip(ids, metadatas, documents, strict=True):
            record = records.get(str(meta.get("path")))
            if record is None or record.sha256 != meta.get("file_sha"):
                continue  # a chunk of an unfinished or replaced version
            by_file.setdefault(record.path, []).append((chunk, chunk_terms(meta, text or "")))
    index = KeywordIndex()
    terms: dict[str, int] = {}
    rows: list[int] = []
    docs: list[int] = []
    tf: list[int] = []
    lengths: list[int] = []
    for path, chunks in by_file.items():
        first = len(index.ids)
        for chunk, words in chunks:
            slot = len(index.ids)
            index.ids.append(chunk)
            lengths.append(len(words))
            for term, count in Counter(words).items():
                rows.append(terms.setdefault(term, len(terms)))
                docs.append(slot)
                tf.append(min(count, 65535))
        index.files[path] = (version_key(records[path]), first, len(index.ids))
    for path, record in records.items():  # an indexed file with no chunk (all of it filtered out)
        index.files.setdefault(path, (version_key(record), len(index.ids), len(index.ids)))
    index.lengths = np.asarray(lengths, dtype=np.int32)
    index.alive = np.ones(len(index.ids), dtype=bool)
    index.position = {chunk: i for i, chunk in enumerate(index.ids)}
    index._set_base(
        list(terms), np.asarray(rows, dtype=np.int64), np.asarray(docs, dtype=np.int64), np.asarray(tf, dtype=np.int64)
    )
    index.n_base = len(index.ids)
    index.revision = info.revision
    return index


def catch_up(store: DocumentStore, info: CollectionInfo, index: KeywordIndex) -> bool:
    """Applies the files added, replaced or removed since the index was saved. False when so
    much changed that a fresh build is cheaper (the caller builds)."""
    records = _indexed_records(store, info)
    wanted = {path: version_key(r) for path, r in records.items()}
    gone = [p for p, (key, _, _) in index.files.items() if wanted.get(p) != key]
    new = [p for p, key in wanted.items() if p not in index.files or index.files[p][0] != key]
    if len(gone) + len(new) > max(50, len(wanted) // 2):
        return False
    for path in gone:
        index.remove_file(path)
    collection = store.vectors(info) if new else None
    for start in range(0, len(new), FETCH_BATCH):
        batch = new[start : start + FETCH_BATCH]
        assert collection is not None
        result = collection.get(where={"path": {"$in": batch}}, include=["metadatas", "documents"])
        chunks: dict[str, list[tuple[str, list[str]]]] = {p: [] for p in batch}
        for chunk, meta, text in zip(result["ids"], result["metadatas"], result["documents"], strict=True):
            meta = dict(meta or {})
            text = chunk_text(text, meta)
            path = str(meta.get("path"))
            if path in chunks and records[path].sha256 == meta.get("file_sha"):
                chunks[path].append((chunk, chunk_terms(meta, text)))
        for path in batch:
            index.add_file(path, wanted[path], chunks[path])
    index.revision = info.revision
    return True


_CACHE: dict[str, KeywordIndex] = {}
_LOCK = threading.Lock()


def keyword_index(store: DocumentStore, info: CollectionInfo) -> KeywordIndex:
    """The collection's BM25 index as of ``info.revision``: from memory, else from disk, brought
    up to date with the files changed since, else built afresh; saved when it changed."""
    folder = store.bm25_dir(info)
    key = str(folder)
    with _LOCK:
        index = _CACHE.get(key)
        if index is not None and index.revision == info.revision:
            return index
        if index is not None:
            index = index.copy()  # searches under way keep reading the one they have
        if index is None and (folder / "state.json").is_file():
            try:
                index = KeywordIndex.load(folder)
            except ValueError as exc:
                log.info("Rebuilding the keyword index of %s (%s)", info.name, exc)
        changed = index is None or index.revision != info.revision
        if index is not None and changed and not catch_up(store, info, index):
            index = None
        if index is None:
            index = build(store, info)
        elif index.needs_compacting():
            index.compact()
        if changed:
            try:
                index.save(folder)
            except OSError as exc:  # a full or read-only disk: it is rebuilt next time
                log.info("Could not save the keyword index of %s: %s", info.name, exc)
        _CACHE[key] = index
        return index

