"""A blind A/B comparison by a person: two runs' answers to the same rows, pair by pair, in a
random order and on random sides, without saying which run wrote which; ties allowed.

Each choice is saved the moment it is made, already translated into the runs' terms (``a``,
``b`` or ``tie``), so closing the window loses nothing and the session resumes at the next
unrated pair. The order and the sides come from the session's seed, so they are the same every
time the session is opened. The result is the win rate with its Wilson interval and a two-sided
sign test (:mod:`~desktop_app.core.runs.preference`); which run was which is shown only once the
person asks (``reveal``), and that is recorded.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from desktop_app.core.errors import HearthError
from desktop_app.core.runs.judge import question_of
from desktop_app.core.runs.preference import Preference, preference
from desktop_app.core.runs.storage import RunStore

CHOICES = ("a", "b", "tie")
SIDES = ("left", "right", "tie")


@dataclass(frozen=True)
class Pair:
    """One row as shown: the question, the left and right answers (which run is hidden)."""

    position: int  # 0-based place in the session's order
    index: int  # the dataset row
    key: str
    question: str
    left: str
    right: str
    a_left: bool  # kept from the screen until revealed
    reference: str | None


@dataclass
class Session:
    id: int
    run_a: int
    run_b: int
    coder: str
    seed: int
    revealed: bool


class BlindComparison:
    """One person's blind session over runs A and B (one per pair of runs and coder)."""

    def __init__(self, store: RunStore, session: Session) -> None:
        self.store = store
        self.session = session
        self._indices = self._order()

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, store: RunStore, run_a: int, run_b: int, coder: str = "me", seed: int | None = None
    ) -> BlindComparison:
        """The coder's session for these two runs: resumed if there is one, else a new one."""
        if run_a == run_b:
            raise HearthError("Pick two different runs to compare.")
        a, b = store.get(run_a), store.get(run_b)
        if a.dataset_sha256 != b.dataset_sha256:
            raise HearthError(
                f"Runs {run_a} and {run_b} were made on different datasets, so their answers do not pair up.",
                "Compare two runs of the same dataset.",
            )
        coder = coder.strip() or "me"
        record = store.db.execute(
            "SELECT * FROM blind_sessions WHERE run_a=? AND run_b=? AND coder=? ORDER BY id DESC LIMIT 1",
            (run_a, run_b, coder),
        ).fetchone()
        if record is None:
            now = time.time()
            seed = seed if seed is not None else random.randrange(2**31)
            with store.db:
                cur = store.db.execute(
                    "INSERT INTO blind_sessions (run_a, run_b, coder, seed, created_at, updated_at)"
                    " VALUES (?,?,?,?,?,?)",
                    (run_a, run_b, coder, seed, now, now),
                )
            record = store.db.execute("SELECT * FROM blind_sessions WHERE id=?", (cur.lastrowid,)).fetchone()
        session = Session(int(record["id"]), run_a, run_b, coder, int(record["seed"]), bool(record["revealed"]))
        comparison = cls(store, session)
        if not comparison._indices:
            raise HearthError(f"Runs {run_a} and {run_b} have no row both answered.")
        return comparison

    def _order(self) -> list[int]:
        """The rows both runs answered, shuffled by the session's seed."""
        indices = [
            a.index
            for a, b in self.store.pairs(self.session.run_a, self.session.run_b)
            if b is not None and not a.error and not b.error
        ]
        random.Random(self.session.seed).shuffle(indices)
        return indices

    def _a_left(self, index: int) -> bool:
        return random.Random(f"{self.session.seed}:{index}").random() < 0.5

    # -- the pairs ------------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self._indices)

    def pair(self, position: int) -> Pair:
        index = self._indices[position]
        a = self.store.row(self.session.run_a, index)
        b = self.store.row(self.session.run_b, index)
        assert a is not None and b is not None
        a_left = self._a_left(index)
        left, right = (a.output, b.output) if a_left else (b.output, a.output)
        question = question_of(self.store.get(self.session.run_a).task, a)
        return Pair(position, index, a.key, question, left, right, a_left, a.reference)

    def choices(self) -> dict[int, str]:
        """Choices made so far, by dataset row, in the runs' terms."""
        return {
            int(r[0]): str(r[1])
            for r in self.store.db.execute(
                "SELECT idx, choice FROM blind_choices WHERE session_id=?", (self.session.id,)
            )
        }

    def side_chosen(self, position: int) -> str | None:
        """What was chosen for the pair at ``position``, as the screen shows it (left/right/tie)."""
        choice = self.choices().get(self._indices[position])
        if choice is None:
            return None
        if choice == "tie":
            return "tie"
        a_left = self._a_left(self._indices[position])
        return "left" if (choice == "a") == a_left else "right"

    def next_open(self) -> int:
        """The first pair not rated yet (``total`` when every pair is)."""
        done = self.choices()
        return next((i for i, index in enumerate(self._indices) if index not in done), self.total)

    def choose(self, position: int, side: str, note: str = "") -> None:
        """Saves the choice for the pair at ``position`` at once (a second choice replaces it)."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}")
        index = self._indices[position]
        a_left = self._a_left(index)
        choice = "tie" if side == "tie" else ("a" if (side == "left") == a_left else "b")
        now = time.time()
        with self.store.db:
            self.store.db.execute(
                "INSERT INTO blind_choices (session_id, idx, a_left, choice, note, created_at) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT(session_id, idx) DO UPDATE SET choice=excluded.choice, note=excluded.note,"
                " created_at=excluded.created_at",
                (self.session.id, index, int(a_left), choice, note, now),
            )
            self.store.db.execute("UPDATE blind_sessions SET updated_at=? WHERE id=?", (now, self.session.id))

    def clear(self, position: int) -> None:
        with self.store.db:
            self.store.db.execute(
                "DELETE FROM blind_choices WHERE session_id=? AND idx=?", (self.session.id, self._indices[position])
            )

    # -- the result -----------------------------------------------------------------------------

    def result(self) -> Preference:
        values = list(self.choices().values())
        return preference(values.count("a"), values.count("b"), values.count("tie"))

    def reveal(self) -> None:
        """From now on the screen may say which run was which (recorded: the session is unblinded)."""
        with self.store.db:
            self.store.db.execute("UPDATE blind_sessions SET revealed=1 WHERE id=?", (self.session.id,))
        self.session.revealed = True

    def describe(self) -> str:
        result = self.result()
        rated = result.decided + result.ties
        head = f"Blind comparison by {self.session.coder}: {rated:,} of {self.total:,} pairs rated."
        if not self.session.revealed:
            return head + " " + result.sentence("the first run", "the second run")
        return head + " " + result.sentence(f"run {self.session.run_a}", f"run {self.session.run_b}")


def sessions_for(store: RunStore, run_id: int) -> list[Session]:
    return [
        Session(int(r["id"]), int(r["run_a"]), int(r["run_b"]), str(r["coder"]), int(r["seed"]), bool(r["revealed"]))
        for r in store.db.execute(
            "SELECT * FROM blind_sessions WHERE run_a=? OR run_b=? ORDER BY id", (run_id, run_id)
        )
    ]
