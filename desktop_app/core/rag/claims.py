"""Checking an answer from documents against its sources, sentence by sentence.

Every sentence that states something (a *claim*) is checked, whether it cites a source or
not: an answer that cites nothing but says "refilled every 9 days" when the source says 31
must not pass as grounded. A claim is supported when some source says the same:

- by meaning: the sentence is close to one of the source's sentences (or to the whole
  passage) with the embedding model retrieval used, which is loaded already; or
- by words: most of its content words are in the source, and the meaning is not far off
  (short sentences share words by chance);
- and its *specifics* are there too: every number (4,500 = 4500 = "four thousand five
  hundred"), weekday and month it states is in a source it matches, and every name
  (a capitalised word inside the sentence) is somewhere in the sources or the question.
  Numbers that disagree are the strongest sign of an invented fact, and the meaning of
  "every 9 days" and "every 31 days" is nearly the same to an embedding model.

Sentences that state nothing are not judged: questions, pleasantries, "I could not find
this", lines that introduce a list, headings, code, and sentences that say themselves
that they do not come from the documents. The thresholds are measured on a labelled set
in tests/rag/test_claims.py.

For each source the check also finds the sentence that best matches the answer: the
snippet under the answer and the document viewer show that passage, not the chunk's start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from desktop_app.core.rag.citations import CITATION, parse_citations

if TYPE_CHECKING:
    from desktop_app.core.rag.embedder import Embedder
    from desktop_app.core.rag.retrieve import Hit

MATCH_SIMILARITY = 0.65  # cosine to a source sentence (or the whole passage): says the same
MATCH_WORDS = 0.6  # share of the sentence's content words found in the source...
WORDS_MIN_SIMILARITY = 0.5  # ...when the meaning is not far off either
MIN_CHECKED_WORDS = 3

NOT_FOUND = re.compile(
    r"could not find (?:this|that|the answer|it|any)|couldn't find (?:this|that|the answer|it|any)|"
    r"(?:sources|documents) do not (?:contain|mention|say)|not (?:mentioned|found) in the (?:sources|documents)",
    re.IGNORECASE,
)
# The model says itself that this is not from the documents (as the open-answer instructions ask).
_DISCLOSED = re.compile(
    r"\b(?:not|n't)\b[^.]{0,40}\b(?:from|in) (?:the|your) (?:sources|documents)|"
    r"outside (?:the|your) (?:sources|documents)|general knowledge|my own knowledge",
    re.IGNORECASE,
)
_PLEASANTRY = re.compile(
    r"^(?:here (?:is|are) (?:what|the answer|a summary|an overview|some)\b|i hope\b|let me know\b|feel free\b|"
    r"is there anything\b|(?:sure|certainly|of course|great question)\W*$|thanks?\b|thank you\b)",
    re.IGNORECASE,
)
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s")
_FENCE = re.compile(r"^\s*(?:```|~~~)")
# The end of a sentence: its punctuation and any citations right after it ("… 31 days. [1]").
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)]*(?:\s*(?:" + CITATION.pattern + r"))*(?:\s+|$)", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)
_ABBREVIATION = re.compile(r"\b(?:dr|mr|mrs|ms|prof|st|vs|no|fig|approx|ca|cf|etc|e\.g|i\.e)\.$", re.IGNORECASE)


def _word_list(text: str) -> list[str]:
    return text.split()


_TIME = re.compile(r"(?<![\w.:])(\d{1,2}):(\d{2})(?![\d:])")
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:[,\u202f\u00a0]\d{3})+|\d+)(?:\.(\d+))?(?:st|nd|rd|th)?(?!\d)")
_UNITS = {w: i for i, w in enumerate(_word_list(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"))}  # fmt: skip
_TENS = {w: 10 * i for i, w in enumerate(_word_list("twenty thirty forty fifty sixty seventy eighty ninety"), start=2)}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_WEEKDAYS = _word_list("monday tuesday wednesday thursday friday saturday sunday")
_MONTHS = {m: i for i, m in enumerate(_word_list(
    "january february march april may june july august september october november december"), start=1)}  # fmt: skip
_NOT_NAMES = frozenset(_word_list("i source sources document documents page pages note answer question yes no ok"))


@dataclass
class SentenceCheck:
    """One sentence of the answer: what it cites, which sources say it, and whether it is a
    claim the sources support."""

    text: str
    cited: list[int]
    matches: list[int]  # sources that say what the sentence says
    unsupported: list[int]  # cited, but the source does not seem to say it
    claim: bool = False  # states something that can be checked against the sources
    supported: bool | None = None  # None: not a claim, not judged
    missing: list[str] = field(default_factory=list)  # its numbers, days and names that no matching source has
    reason: str = ""  # why an unsupported claim is flagged, in words

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CheckedSentences:
    """What an answer's checked sentences say about it: the check (:class:`AnswerCheck`) and the
    stored answer (``answer_record.RagAnswer``) share it. A plain class, not a dataclass, so each
    keeps ``sentences`` where its own fields put it."""

    sentences: list[SentenceCheck]

    @property
    def claims(self) -> list[SentenceCheck]:
        """The sentences that state something, each checked against the sources."""
        return [s for s in self.sentences if s.claim]

    @property
    def unsupported_claims(self) -> list[SentenceCheck]:
        return [s for s in self.sentences if s.claim and not s.supported]


@dataclass
class AnswerCheck(CheckedSentences):
    sentences: list[SentenceCheck]
    best: list[float]  # per source: how well the answer's best-matching sentence matches it (0..1)
    passages: list[tuple[int, int] | None]  # per source: the span of its sentence closest to the answer


@dataclass
class _Sentence:
    text: str  # as written in the answer (list markers left out)
    plain: str  # without citations and Markdown emphasis
    statement: bool  # not a heading or code


def says_not_found(text: str) -> bool:
    """Whether ``text`` says the documents do not hold the answer."""
    return bool(NOT_FOUND.search(text))


def _spans(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for match in _BOUNDARY.finditer(text):
        following = text[match.end() : match.end() + 1]
        if following and not (following.isupper() or following.isdigit() or following in "\"'“‘(*_["):
            continue  # "e.g. the": an abbreviation, not the end of the sentence
        if _ABBREVIATION.search(text, 0, match.start() + 1):
            continue  # "Dr. Martin"
        yield start, match.end()
        start = match.end()
    yield start, len(text)


def _sentences(text: str) -> list[_Sentence]:
    found: list[_Sentence] = []
    in_code = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if in_code or not line.strip():
            continue
        heading = bool(_HEADING.match(line))
        line = _LIST_MARKER.sub("", line, count=1)
        for start, end in _spans(line):
            part = line[start:end].strip()
            if part:
                plain = re.sub(r"[*_`#>|]+", " ", CITATION.sub("", part))
                found.append(_Sentence(part, re.sub(r"\s+", " ", plain).strip(), not heading))
    return found


def _source_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of a source passage, as spans of ``text`` (spaces around them left out).
    Only a blank line ends a paragraph: a PDF page's text breaks its lines mid-sentence."""
    spans: list[tuple[int, int]] = []
    for paragraph in re.finditer(r"\S(?:.|\n(?!\s*\n))*", text):
        for start, end in _spans(paragraph.group(0)):
            part = paragraph.group(0)[start:end]
            if part.strip():
                lead = len(part) - len(part.lstrip())
                spans.append((paragraph.start() + start + lead, paragraph.start() + start + len(part.rstrip())))
    return spans


# -- specifics: numbers, days, months, names -----------------------------------------------------


def _canonical(whole: str, decimals: str | None) -> str:
    value = int(re.sub(r"\D", "", whole))
    decimals = (decimals or "").rstrip("0")
    return f"{value}.{decimals}" if decimals else str(value)


def _word_numbers(text: str, lone_one: bool) -> set[str]:
    """Numbers written in words ("twelve", "forty-two", "three thousand"). ``lone_one``: count a
    lone "one" too."""
    values: set[str] = set()
    group: list[str] = []

    def flush() -> None:
        if group and (lone_one or group != ["one"]):
            total = current = 0
            for word in group:
                if word in _UNITS or word in _TENS:
                    current += _UNITS.get(word, _TENS.get(word, 0))
                elif word == "hundred":
                    current = max(current, 1) * 100
                else:
                    total += max(current, 1) * _SCALES[word]
                    current = 0
            values.add(str(total + current))
        group.clear()

    for token in re.findall(r"[a-z]+|[^a-z\s-]+", text.lower()):
        if token not in _UNITS and token not in _TENS and token not in _SCALES:
            if token != "and" or not group or group[-1] not in _SCALES:
                flush()  # "and" continues "two hundred and five"; anything else ends a number
            continue
        previous = group[-1] if group else ""
        continues = (
            token in _SCALES
            or (previous in _TENS and 0 < _UNITS.get(token, 0) < 10)
            or (previous in _SCALES and token not in _SCALES)
        )
        if group and not continues:
            flush()  # "eighty forty", "one two": separate numbers
        group.append(token)
    flush()
    return values


def specifics(text: str, in_source: bool = True) -> dict[str, str]:
    """The numbers, weekdays and months (capitalised) ``text`` states: canonical form ("4,500"
    -> "4500", "twelve" -> "12", "Tuesdays" -> "tuesday") -> as written. A time counts as its
    hour (and its minutes unless :00). In a source a lone "one" counts, and a month is its
    number too (14 March = 14/03); in an answer "one" is mostly a pronoun ("the one in room 3")."""
    found: dict[str, str] = {}
    for match in _TIME.finditer(text):
        found.setdefault(str(int(match.group(1))), match.group(0))
        if int(match.group(2)):
            found.setdefault(str(int(match.group(2))), match.group(0))
    for match in _NUMBER.finditer(_TIME.sub(" ", text)):
        found.setdefault(_canonical(match.group(1), match.group(2)), match.group(0))
    for value in _word_numbers(text, lone_one=in_source):
        found.setdefault(value, value)
    for word in re.findall(r"[A-Z][a-z]+", text):
        lower = word.lower()
        if lower.removesuffix("s") in _WEEKDAYS:
            found.setdefault(lower.removesuffix("s"), word)
        elif lower in _MONTHS:
            found.setdefault(lower, word)
            if in_source:
                found.setdefault(str(_MONTHS[lower]), word)
    return found


def names(plain: str) -> set[str]:
    """Capitalised words inside a sentence (not its first word): names, places, acronyms."""
    words = list(re.finditer(r"[A-Za-z][\w'’-]*", plain))
    found: set[str] = set()
    for match in words[1:]:
        word = re.sub(r"['’]s$", "", match.group(0))
        lower = word.lower()
        known = lower in _NOT_NAMES or lower in _MONTHS or lower.removesuffix("s") in _WEEKDAYS
        if word[0].isupper() and not known:
            found.add(word)
    return found


def _listed(items: Sequence[str]) -> str:
    quoted = [f"“{i}”" for i in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


# -- the check ----------------------------------------------------------------------------------


def _is_claim(sentence: _Sentence, words: set[str], stated: set[str]) -> bool:
    plain = sentence.plain
    if not sentence.statement or not plain or plain.endswith(("?", ":")):
        return False
    if NOT_FOUND.search(plain) or _DISCLOSED.search(plain) or _PLEASANTRY.match(plain):
        return False
    return len(words) >= MIN_CHECKED_WORDS or (bool(stated) and len(words) >= 2)


Span = tuple[int, int]


def _by_meaning(
    embedder: Embedder, claims: list[str], sources: Sequence[Hit], spans: list[list[Span]]
) -> tuple[list[list[float]], list[list[tuple[float, Span]]]]:
    """For each claim and source: the best cosine to the source's sentences, and that sentence.
    A claim no sentence matches is compared with whole chunks too (a fact may span two
    sentences); only then, since a long chunk is slow to embed, and apart from the short
    sentences, which it would pad to its length in a batch."""
    units = [(j, span) for j, source_spans in enumerate(spans) for span in source_spans]
    vectors = embedder.encode(claims + [sources[j].text[a:b] for j, (a, b) in units])
    claim_vectors, similarity = vectors[: len(claims)], vectors[: len(claims)] @ vectors[len(claims) :].T
    meanings = [[0.0] * len(sources) for _ in claims]
    nearests = [[(-2.0, (0, 0))] * len(sources) for _ in claims]
    for row in range(len(claims)):
        for u, (j, span) in enumerate(units):
            score = float(similarity[row, u])
            if score > nearests[row][j][0]:
                nearests[row][j] = (score, span)
                meanings[row][j] = score
    unmatched = [row for row in range(len(claims)) if max(meanings[row], default=0.0) < MATCH_SIMILARITY]
    if unmatched:
        whole = claim_vectors[unmatched] @ embedder.encode([h.text for h in sources]).T
        for k, row in enumerate(unmatched):
            meanings[row] = [max(m, float(w)) for m, w in zip(meanings[row], whole[k], strict=True)]
    return meanings, nearests


def _by_words(words: set[str], sources: Sequence[Hit], spans: list[list[Span]]) -> list[tuple[float, Span]]:
    """For each source, its sentence sharing most of ``words`` (no embedding model loaded)."""
    from desktop_app.core.rag.retrieve import keyword_tokens

    nearest = []
    for hit, source_spans in zip(sources, spans, strict=True):
        scored = [
            (len(words & set(keyword_tokens(hit.text[a:b]))) / max(1, len(words)), (a, b)) for a, b in source_spans
        ]
        nearest.append(max(scored, default=(-2.0, (0, 0))))
    return nearest


def check_answer(text: str, sources: Sequence[Hit], embed_model: str = "", question: str = "") -> AnswerCheck:
    """Checks each sentence of ``text`` against ``sources`` (numbered 1..n in this order).

    Uses the embedding model ``embed_model`` when it is loaded (retrieval loaded it), else
    words and specifics alone."""
    from desktop_app.core.rag.embedder import loaded_embedder
    from desktop_app.core.rag.retrieve import keyword_tokens

    sentences = _sentences(text)
    best = [0.0] * len(sources)
    passages: list[tuple[int, int] | None] = [None] * len(sources)
    words = [set(keyword_tokens(s.plain)) for s in sentences]
    forms = [specifics(s.plain, in_source=False) for s in sentences]
    stated = [set(f) for f in forms]
    claims = [_is_claim(s, words[i], stated[i]) for i, s in enumerate(sentences)]
    cited_all = [parse_citations(s.text) for s in sentences]
    checks = [SentenceCheck(s.text, [n for n in cited_all[i] if 1 <= n <= len(sources)], [], []) for i, s in
              enumerate(sentences)]  # fmt: skip
    judged = [i for i in range(len(sentences)) if claims[i] or (checks[i].cited and len(words[i]) >= MIN_CHECKED_WORDS)]
    if not judged:
        return AnswerCheck(checks, best, passages)

    described = [f"{h.heading} {h.text} {h.name} {h.title}" for h in sources]
    source_words = [set(keyword_tokens(d)) for d in described]
    source_specifics = [set(specifics(d)) for d in described]
    vocabulary = {w.lower() for d in [*described, question] for w in _WORD.findall(d)}
    spans = [_source_spans(hit.text) for hit in sources]
    embedder = loaded_embedder(embed_model) if embed_model and sources else None
    if embedder is not None:
        meanings, nearests = _by_meaning(embedder, [sentences[i].plain for i in judged], sources, spans)
    else:
        meanings = [[0.0] * len(sources) for _ in judged]
        nearests = [_by_words(words[i], sources, spans) for i in judged]

    # Per source, its sentence closest to the answer: (matched, score, span), a matching sentence first.
    closest: list[tuple[bool, float, tuple[int, int]] | None] = [None] * len(sources)
    for row, i in enumerate(judged):
        meaning, nearest = meanings[row], nearests[row]
        related = []
        for j in range(len(sources)):
            overlap = len(words[i] & source_words[j]) / max(1, len(words[i]))
            best[j] = max(best[j], overlap, meaning[j])
            if meaning[j] >= MATCH_SIMILARITY or (
                overlap >= MATCH_WORDS and (embedder is None or meaning[j] >= WORDS_MIN_SIMILARITY)
            ):
                related.append(j)
        # A source that matches the wording but states none of the sentence's numbers does not say it.
        matching = [j for j in related if not stated[i] or stated[i] & source_specifics[j]]
        pool = set().union(*(source_specifics[j] for j in (matching or range(len(sources)))))
        missing = [forms[i][s] for s in sorted(stated[i] - pool, key=lambda s: (not s[0].isdigit(), s))]
        missing += sorted(n for n in names(sentences[i].plain) if not all(
            w.lower() in vocabulary for w in _WORD.findall(n)))  # fmt: skip
        check = checks[i]
        check.matches = [j + 1 for j in matching]
        check.unsupported = [n for n in check.cited if n not in check.matches]
        check.missing = missing
        for j, (score, span) in enumerate(nearest):
            candidate = (j in matching, score, span)
            if span[1] > span[0] and (closest[j] is None or candidate[:2] > closest[j][:2]):  # type: ignore[index]
                closest[j] = candidate
        if not claims[i]:
            continue
        check.claim = True
        check.supported = bool(matching) and not missing
        if check.supported:
            continue
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            check.reason = f"{_listed(missing)} {verb} not in the sources"
            # What the closest sentence of a source that matches it says instead ("31", not "9").
            nearest_j = max(related, key=lambda j: nearest[j][0], default=None)
            if nearest_j is not None and any(m[0].isdigit() for m in missing):
                a, b = nearest[nearest_j][1]
                found = specifics(sources[nearest_j].text[a:b], in_source=False)
                said = [v for k, v in found.items() if k[0].isdigit() and k not in stated[i]]
            else:
                said = []
            if said:
                check.reason += f" (the closest source says {_listed(said[:4])})"
        else:
            check.reason = "no source says this"
    passages = [found[2] if found is not None else None for found in closest]
    return AnswerCheck(checks, best, passages)


def closest_sentence(text: str, query: str) -> tuple[int, int] | None:
    """The span of the sentence of ``text`` sharing most words with ``query`` (a search
    result's passage, for the viewer); None when none shares any."""
    from desktop_app.core.rag.retrieve import keyword_tokens

    wanted = set(keyword_tokens(query))
    scored = [(len(wanted & set(keyword_tokens(text[a:b]))), -a, (a, b)) for a, b in _source_spans(text)]
    best = max(scored, default=None)
    return best[2] if best is not None and best[0] > 0 else None
