"""Hearth's database schema: ordered, named migrations (the pattern of Simon Willison's llm).

Each migration runs once, in the order of its number, and is recorded in ``_migrations``. Add a
new one as ``@migration def mNNN_what(db)`` (a number of its own: they run sorted by name, wherever
they sit in this file); never edit one that has been applied. :mod:`desktop_app.core.db` runs them
when it opens the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    """Registers a migration. They run in the order of their numbers (mNNN_), wherever they sit in
    this file: work on several features at once adds them out of order."""
    MIGRATIONS.append((fn.__name__, fn))
    MIGRATIONS.sort(key=lambda item: item[0])
    return fn



def migrate(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        with db:
            fn(db)
            db.execute("INSERT INTO _migrations VALUES (?, strftime('%s','now'))", (name,))



def pending(db: sqlite3.Connection) -> bool:
    """Whether a registered migration has not been applied to ``db`` yet."""
    try:
        done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError:  # no such table: a new database
        return True
    return any(name not in done for name, _ in MIGRATIONS)


# -- the migrations, by number ----------------------------------------------------------------------


@migration
def m001_conversations(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            system_prompt TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            created_at REAL NOT NULL,
            -- provenance of assistant messages: what exactly produced them
            finish TEXT,
            model_name TEXT,
            model_path TEXT,
            model_size INTEGER,
            model_sha256 TEXT,
            quant TEXT,
            llama_cpp_version TEXT,
            settings_json TEXT,
            seed INTEGER,
            timings_json TEXT,
            dropped_messages INTEGER,
            UNIQUE (conversation_id, position)
        );
        CREATE INDEX messages_by_conversation ON messages(conversation_id, position);
        """
    )


@migration
def m002_model_hashes(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE model_hashes (path TEXT PRIMARY KEY, size INTEGER NOT NULL,"
        " mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL)"
    )


@migration
def m003_documents(db: sqlite3.Connection) -> None:
    """Document collections, what the user added to them, and the manifest of indexed files
    (the vectors themselves live in Chroma; see core/rag/store.py)."""
    db.executescript(
        """
        CREATE TABLE rag_collections (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            store_name TEXT NOT NULL UNIQUE,
            embed_model TEXT NOT NULL,
            chunk_tokens INTEGER NOT NULL,
            chunk_overlap INTEGER NOT NULL,
            revision INTEGER NOT NULL DEFAULT 0,
            dirty INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE rag_sources (
            id INTEGER PRIMARY KEY,
            collection_id INTEGER NOT NULL REFERENCES rag_collections(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            is_folder INTEGER NOT NULL,
            mode TEXT NOT NULL DEFAULT 'include',
            watch INTEGER NOT NULL DEFAULT 0,
            added_at REAL NOT NULL,
            scanned_at REAL,
            UNIQUE (collection_id, path)
        );
        CREATE TABLE rag_files (
            collection_id INTEGER NOT NULL REFERENCES rag_collections(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            status TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL DEFAULT '',
            pages INTEGER,
            chunks INTEGER NOT NULL DEFAULT 0,
            chunker TEXT NOT NULL DEFAULT '',
            embed_model_id TEXT NOT NULL DEFAULT '',
            notes TEXT NOT NULL DEFAULT '',
            indexed_at REAL NOT NULL,
            PRIMARY KEY (collection_id, path)
        );
        CREATE TABLE rag_embed_rates (
            model_id TEXT PRIMARY KEY,
            chunks_per_s REAL NOT NULL,
            measured_at REAL NOT NULL
        );
        """
    )


@migration
def m004_quantlab_runs(db: sqlite3.Connection) -> None:
    """Quantisation-lab comparisons: one row per run (its full settings), one per variant measured."""
    db.executescript(
        """
        CREATE TABLE quantlab_runs (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            title TEXT NOT NULL,
            duration_s REAL NOT NULL,
            settings_json TEXT NOT NULL,
            text_source TEXT NOT NULL,
            text_sha256 TEXT NOT NULL,
            n_text_tokens INTEGER NOT NULL,
            kl_method TEXT NOT NULL,
            machine_json TEXT NOT NULL
        );
        CREATE TABLE quantlab_results (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES quantlab_runs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            model_path TEXT NOT NULL,
            model_name TEXT NOT NULL,
            model_sha256 TEXT NOT NULL,
            quant TEXT NOT NULL,
            bits_per_weight REAL NOT NULL,
            size_bytes INTEGER NOT NULL,
            is_reference INTEGER NOT NULL,
            load_s REAL,
            peak_rss_bytes INTEGER,
            baseline_rss_bytes INTEGER,
            vram_bytes INTEGER,
            prompt_tok_s REAL,
            gen_tok_s REAL,
            perplexity REAL,
            kl_divergence REAL,
            kl_p99 REAL,
            top1_agreement REAL,
            n_scored INTEGER,
            answer TEXT,
            rating INTEGER,
            error TEXT,
            extra_json TEXT,
            UNIQUE (run_id, position)
        );
        CREATE INDEX quantlab_results_by_run ON quantlab_results(run_id, position);
        """
    )


@migration
def m005_fit_calibration(db: sqlite3.Connection) -> None:
    """The memory plan's estimate next to what a real load used (core/calibration.py)."""
    db.executescript(
        """
        CREATE TABLE fit_calibration (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            model_path TEXT NOT NULL,
            model_name TEXT NOT NULL,
            architecture TEXT NOT NULL,
            quant TEXT NOT NULL,
            n_ctx INTEGER NOT NULL,
            kv_type TEXT NOT NULL,
            gpu_layers INTEGER NOT NULL,
            backend TEXT NOT NULL,
            llama_cpp_version TEXT NOT NULL,
            estimated_ram INTEGER NOT NULL,
            measured_ram INTEGER NOT NULL,
            estimated_vram INTEGER NOT NULL,
            measured_vram INTEGER,
            estimate_json TEXT NOT NULL
        );
        CREATE INDEX fit_calibration_by_model ON fit_calibration(model_path, created_at);
        """
    )


@migration
def m006_conversation_documents(db: sqlite3.Connection) -> None:
    """Answers from documents in the chat: which collections a conversation is attached to
    (by id, so a renamed collection stays attached and a deleted one drops out), its
    "documents only" switch (NULL: the documents settings' default), and each answer's
    citations, budget and retrieval inspector (``rag_json``; see core/rag/answer.py)."""
    db.executescript(
        """
        CREATE TABLE conversation_collections (
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            collection_id INTEGER NOT NULL REFERENCES rag_collections(id) ON DELETE CASCADE,
            position INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (conversation_id, collection_id)
        );
        ALTER TABLE conversations ADD COLUMN documents_only INTEGER;
        ALTER TABLE messages ADD COLUMN rag_json TEXT;
        """
    )


@migration
def m007_runs(db: sqlite3.Connection) -> None:
    """Dataset runs (core/runs/): one row per run with its manifest, one per dataset row done,
    committed as each finishes (a killed run resumes from what is here)."""
    db.executescript(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            title TEXT NOT NULL,
            status TEXT NOT NULL,
            message TEXT NOT NULL DEFAULT '',
            pid INTEGER,
            n INTEGER NOT NULL,
            kind TEXT NOT NULL,
            dataset_path TEXT NOT NULL,
            dataset_sha256 TEXT NOT NULL,
            model_name TEXT NOT NULL,
            model_sha256 TEXT,
            replay_of INTEGER REFERENCES runs(id) ON DELETE SET NULL,
            task_json TEXT NOT NULL,
            manifest_json TEXT NOT NULL
        );
        CREATE TABLE run_rows (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            row_key TEXT NOT NULL,
            inputs_json TEXT NOT NULL,
            prompt TEXT NOT NULL,
            output TEXT NOT NULL,
            reference TEXT,
            valid INTEGER NOT NULL,
            correct INTEGER,
            score REAL,
            error TEXT NOT NULL DEFAULT '',
            finish TEXT NOT NULL,
            seed INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            gen_tokens INTEGER NOT NULL,
            seconds REAL NOT NULL,
            cited INTEGER,
            flagged INTEGER,
            source_hit INTEGER,
            detail_json TEXT,
            finished_at REAL NOT NULL,
            PRIMARY KEY (run_id, idx)
        );
        CREATE INDEX run_rows_by_correct ON run_rows(run_id, correct);
        """
    )


@migration
def m008_document_embedding_backend(db: sqlite3.Connection) -> None:
    """The backend a collection's vectors are made with (core/rag/embed_backends.py); every
    collection from before was made with PyTorch."""
    db.execute("ALTER TABLE rag_collections ADD COLUMN embed_backend TEXT NOT NULL DEFAULT 'torch'")


@migration
def m009_document_servers(db: sqlite3.Connection) -> None:
    """Collections on a Chroma server (core/rag/remote_store.py): its address ('' for the local
    store), and a digest of the server's file manifest as last mirrored into rag_files."""
    db.execute("ALTER TABLE rag_collections ADD COLUMN server_url TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE rag_collections ADD COLUMN remote_digest TEXT NOT NULL DEFAULT ''")


@migration
def m010_reply_versions(db: sqlite3.Connection) -> None:
    """Earlier replies at a place in a conversation, kept when the user regenerates (1/2, 2/2)."""
    db.executescript(
        """
        CREATE TABLE reply_versions (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            created_at REAL NOT NULL,
            message_json TEXT NOT NULL  -- every column of the messages row it was
        );
        CREATE INDEX reply_versions_by_place ON reply_versions(conversation_id, position);
        """
    )


@migration
def m011_human_coding(db: sqlite3.Connection) -> None:
    """Human coding of a run's rows (core/runs/coding.py): coders by name, one code per (run,
    row, coder) with a note, saved on every keystroke; the adjudicated code of a disputed row
    (the originals stay); the run's codebook."""
    db.executescript(
        """
        CREATE TABLE coders (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL
        );
        CREATE TABLE codes (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            coder_id INTEGER NOT NULL REFERENCES coders(id) ON DELETE CASCADE,
            code TEXT,  -- NULL: no code (yet), or skipped
            skipped INTEGER NOT NULL DEFAULT 0,
            note TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT 'screen',  -- 'screen', or the file it was imported from
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (run_id, coder_id, idx)
        );
        CREATE INDEX codes_by_row ON codes(run_id, idx);
        CREATE TABLE adjudications (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            code TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            decided_by TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (run_id, idx)
        );
        CREATE TABLE codebooks (
            run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
            codebook_json TEXT NOT NULL,
            updated_at REAL NOT NULL
        );
        """
    )


@migration
def m012_sweeps(db: sqlite3.Connection) -> None:
    """Sweeps (core/runs/sweep.py): several prompts × models on one dataset, each cell an ordinary
    run; the cells are listed when the sweep is made, their run linked once it exists."""
    db.executescript(
        """
        CREATE TABLE sweeps (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            title TEXT NOT NULL,
            status TEXT NOT NULL,
            message TEXT NOT NULL DEFAULT '',
            pid INTEGER,
            dataset_path TEXT NOT NULL,
            dataset_sha256 TEXT NOT NULL,
            spec_json TEXT NOT NULL,
            split_json TEXT NOT NULL
        );
        CREATE TABLE sweep_cells (
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            phase TEXT NOT NULL,  -- dev | test | all (no split)
            model INTEGER NOT NULL,
            system INTEGER NOT NULL,
            prompt INTEGER NOT NULL,
            shots INTEGER NOT NULL,
            run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
            PRIMARY KEY (sweep_id, position)
        );
        """
    )


@migration
def m013_judges(db: sqlite3.Connection) -> None:
    """A second model as judge (core/runs/judge.py): which runs a judge run judged, with the rubric
    and which judged row each of its rows is; and blind A/B comparisons by a person
    (core/runs/blind.py), each choice saved as it is made, in the runs' terms (unblinded on demand)."""
    db.executescript(
        """
        CREATE TABLE judge_runs (
            run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
            mode TEXT NOT NULL,  -- 'rubric' | 'pairwise'
            judged_a INTEGER NOT NULL,
            judged_b INTEGER,
            rubric_json TEXT NOT NULL,
            rubric_sha256 TEXT NOT NULL,
            rows_json TEXT NOT NULL,  -- the judged row index behind each judge row
            created_at REAL NOT NULL
        );
        CREATE INDEX judge_runs_by_judged ON judge_runs(judged_a, judged_b);
        CREATE TABLE blind_sessions (
            id INTEGER PRIMARY KEY,
            run_a INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            run_b INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            coder TEXT NOT NULL,
            seed INTEGER NOT NULL,
            revealed INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE blind_choices (
            session_id INTEGER NOT NULL REFERENCES blind_sessions(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,  -- the dataset row
            a_left INTEGER NOT NULL,  -- run A's answer was shown on the left
            choice TEXT NOT NULL,  -- 'a' | 'b' | 'tie', in the runs' terms
            note TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            PRIMARY KEY (session_id, idx)
        );
        """
    )


@migration
def m015_run_notes(db: sqlite3.Connection) -> None:
    """A note the user keeps with a dataset run (the Runs page: Rename / note…)."""
    db.execute("ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT ''")
