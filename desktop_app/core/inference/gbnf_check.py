"""Checks a GBNF grammar in Python before llama.cpp sees it.

llama.cpp's grammar sampler returns a null pointer for a grammar it cannot parse, and
llama-cpp-python uses that pointer anyway: a bad grammar (``"b"``, an undefined rule, a
left-recursive rule) crashes the whole process. This is a port of llama.cpp's own parser
(``llama-grammar.cpp``: the same syntax, the same rewriting of repetitions into rules, the same
left-recursion check), so a grammar it passes is one llama.cpp accepts, and one it refuses gets a
plain-words :class:`HearthError` saying where.

Token references are accepted only by id (``<[42]>``): a ``<text>`` reference needs the
model's vocabulary, which is checked nowhere but inside llama.cpp.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop_app.core.errors import HearthError

MAX_REPETITION = 2000  # llama.cpp's MAX_REPETITION_THRESHOLD
MAX_GRAMMAR_CHARS = 1_000_000
ROOT = "root"

# Element kinds, as llama.cpp's llama_gretype (only what the checks need).
END, ALT, REF, TERMINAL = range(4)

_HINT = "Check the grammar's syntax (llama.cpp's GBNF); every rule a rule uses must be defined, and `root` too."


class GrammarError(HearthError):
    """A grammar llama.cpp would refuse (HTTP 400 on the server)."""


def _word(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or c == "-" or ("0" <= c <= "9")


@dataclass
class _Parser:
    src: str
    symbols: dict[str, int] = field(default_factory=dict)
    rules: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    def at(self, pos: int) -> str:
        return self.src[pos] if pos < len(self.src) else ""

    def fail(self, what: str, pos: int) -> GrammarError:
        line = self.src.count("\n", 0, pos) + 1
        near = self.src[pos : pos + 20].split("\n")[0]
        where = f"line {line}, at “{near}”" if near else f"line {line}, at the end"
        return GrammarError(f"The grammar is not valid: {what} ({where}).", _HINT)

    def symbol(self, name: str) -> int:
        return self.symbols.setdefault(name, len(self.symbols))

    def generate(self, base: str) -> int:
        next_id = len(self.symbols)
        self.symbols[f"{base}_{next_id}"] = next_id
        return next_id

    def space(self, pos: int, newline_ok: bool) -> int:
        while True:
            c = self.at(pos)
            if c == "#":
                while self.at(pos) not in ("", "\r", "\n"):
                    pos += 1
            elif c in (" ", "\t") or (newline_ok and c in ("\r", "\n")):
                pos += 1
            else:
                return pos

    def name(self, pos: int) -> int:
        end = pos
        while _word(self.at(end)):
            end += 1
        if end == pos:
            raise self.fail("a rule name was expected", pos)
        return end

    def integer(self, pos: int) -> tuple[int, int]:
        end = pos
        while self.at(end).isdigit() and self.at(end).isascii():
            end += 1
        if end == pos:
            raise self.fail("a number was expected", pos)
        return int(self.src[pos:end]), end

    def char(self, pos: int) -> int:
        c = self.at(pos)
        if c == "":
            raise self.fail("the grammar ends too early", pos)
        if c != "\\":
            return pos + 1
        escape = self.at(pos + 1)
        size = {"x": 2, "u": 4, "U": 8}.get(escape)
        if size is not None:
            digits = self.src[pos + 2 : pos + 2 + size]
            if len(digits) != size or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise self.fail(f"\\{escape} needs {size} hexadecimal digits", pos)
            return pos + 2 + size
        if escape in ("t", "r", "n", "\\", '"', "[", "]", "-"):
            return pos + 2
        raise self.fail("an unknown escape", pos)

    def token(self, pos: int) -> int:
        if self.at(pos) != "<":
            raise self.fail("“<” was expected", pos)
        if self.at(pos + 1) != "[":
            raise self.fail("a token must be given by its id, as <[42]>", pos)
        value, end = self.integer(pos + 2)
        if value > 2**32 - 1:
            raise self.fail("the token id is too big", pos)
        if self.at(end) != "]" or self.at(end + 1) != ">":
            raise self.fail("“]>” was expected", end)
        return end + 2

    def alternates(self, pos: int, rule_name: str, rule_id: int, nested: bool) -> int:
        rule: list[tuple[int, int]] = []
        pos = self.sequence(pos, rule_name, rule, nested)
        while self.at(pos) == "|":
            rule.append((ALT, 0))
            pos = self.space(pos + 1, True)
            pos = self.sequence(pos, rule_name, rule, nested)
        rule.append((END, 0))
        self.rules[rule_id] = rule
        return pos

    def sequence(self, pos: int, rule_name: str, rule: list[tuple[int, int]], nested: bool) -> int:
        last_start = len(rule)
        n_prev = 1

        def repeat(min_times: int, max_times: int | None) -> None:
            nonlocal n_prev
            if last_start == len(rule):
                raise self.fail("“*”, “+”, “?” or “{” must follow something to repeat", pos)
            prev = rule[last_start:]
            total = max_times if max_times else (min_times or 1)
            if n_prev * total > MAX_REPETITION:
                raise self.fail("the repetitions make too many rules", pos)
            if min_times == 0:
                del rule[last_start:]
            else:
                for _ in range(1, min_times):
                    rule.extend(prev)
            last_rec = 0
            n_opt = 1 if max_times is None else max_times - min_times
            for i in range(n_opt):
                rec_id = self.generate(rule_name)
                rec = list(prev)
                if i > 0 or max_times is None:
                    rec.append((REF, rec_id if max_times is None else last_rec))
                rec += [(ALT, 0), (END, 0)]
                self.rules[rec_id] = rec
                last_rec = rec_id
            if n_opt > 0:
                rule.append((REF, last_rec))
            n_prev *= total

        while pos < len(self.src):
            c = self.src[pos]
            if c == '"':
                pos += 1
                last_start, n_prev = len(rule), 1
                while self.at(pos) != '"':
                    if self.at(pos) == "":
                        raise self.fail("a string is not closed", pos)
                    pos = self.char(pos)
                    rule.append((TERMINAL, 0))
                pos = self.space(pos + 1, nested)
            elif c == "[":
                pos += 1
                if self.at(pos) == "^":
                    pos += 1
                last_start, n_prev = len(rule), 1
                while self.at(pos) != "]":
                    if self.at(pos) == "":
                        raise self.fail("a character set is not closed", pos)
                    pos = self.char(pos)
                    rule.append((TERMINAL, 0))
                    if self.at(pos) == "-" and self.at(pos + 1) != "]":
                        if self.at(pos + 1) == "":
                            raise self.fail("the grammar ends too early", pos)
                        pos = self.char(pos + 1)
                        rule.append((TERMINAL, 0))
                pos = self.space(pos + 1, nested)
            elif c in ("<", "!"):
                end = self.token(pos + 1 if c == "!" else pos)
                last_start, n_prev = len(rule), 1
                rule.append((TERMINAL, 0))
                pos = self.space(end, nested)
            elif _word(c):
                end = self.name(pos)
                ref = self.symbol(self.src[pos:end])
                pos = self.space(end, nested)
                last_start, n_prev = len(rule), 1
                rule.append((REF, ref))
            elif c == "(":
                pos = self.space(pos + 1, True)
                before = len(self.symbols)
                sub_id = self.generate(rule_name)
                pos = self.alternates(pos, rule_name, sub_id, True)
                n_prev = max(1, len(self.symbols) - before)
                last_start = len(rule)
                rule.append((REF, sub_id))
                if self.at(pos) != ")":
                    raise self.fail("“)” was expected", pos)
                pos = self.space(pos + 1, nested)
            elif c == ".":
                last_start, n_prev = len(rule), 1
                rule.append((TERMINAL, 0))
                pos = self.space(pos + 1, nested)
            elif c in "*+?":
                pos = self.space(pos + 1, nested)
                repeat(*{"*": (0, None), "+": (1, None), "?": (0, 1)}[c])
            elif c == "{":
                pos = self.space(pos + 1, nested)
                if not (self.at(pos).isdigit() and self.at(pos).isascii()):
                    raise self.fail("a number was expected", pos)
                min_times, pos = self.integer(pos)
                pos = self.space(pos, nested)
                max_times: int | None = None
                if self.at(pos) == "}":
                    max_times = min_times
                    pos = self.space(pos + 1, nested)
                elif self.at(pos) == ",":
                    pos = self.space(pos + 1, nested)
                    if self.at(pos).isdigit() and self.at(pos).isascii():
                        max_times, pos = self.integer(pos)
                        pos = self.space(pos, nested)
                    if self.at(pos) != "}":
                        raise self.fail("“}” was expected", pos)
                    pos = self.space(pos + 1, nested)
                else:
                    raise self.fail("“,” was expected", pos)
                if min_times > MAX_REPETITION:
                    raise self.fail("too many repetitions", pos)
                if max_times is not None and max_times > MAX_REPETITION:
                    max_times = None
                if max_times is not None and max_times < min_times:
                    raise self.fail("the largest repetition count is smaller than the smallest", pos)
                repeat(min_times, max_times)
            else:
                break
        return pos

    def rule(self, pos: int) -> int:
        end = self.name(pos)
        name = self.src[pos:end]
        rule_id = self.symbol(name)
        pos = self.space(end, False)
        if self.src[pos : pos + 3] != "::=":
            raise self.fail("“::=” was expected after the rule name", pos)
        pos = self.alternates(self.space(pos + 3, True), name, rule_id, False)
        if self.src[pos : pos + 2] == "\r\n":
            pos += 2
        elif self.at(pos) in ("\r", "\n"):
            pos += 1
        elif self.at(pos):
            raise self.fail("a new line or the end was expected", pos)
        return self.space(pos, True)


def _left_recursive(rules: list[list[tuple[int, int]]]) -> int | None:
    """A rule llama.cpp's check finds left-recursive, or None. Its check follows each rule's
    leftmost references (and the next ones while the previous rule may be empty, i.e. has an
    empty alternative): a cycle along those is left recursion. Iterative, so no grammar is too deep."""
    may_be_empty = [False] * len(rules)
    for index, rule in enumerate(rules):
        at_start = True
        for kind, _value in rule:
            if kind in (END, ALT):
                if at_start:
                    may_be_empty[index] = True
                    break
                at_start = True
            else:
                at_start = False
    left: list[list[int]] = []
    for rule in rules:
        edges: list[int] = []
        recurse = True
        for kind, value in rule:
            if kind == REF and recurse:
                edges.append(value)
                recurse = may_be_empty[value]
            else:
                recurse = kind in (END, ALT)
        left.append(edges)
    state = [0] * len(rules)  # 0 not seen, 1 on the current path, 2 done
    for start in range(len(rules)):
        if state[start]:
            continue
        state[start] = 1
        stack = [(start, iter(left[start]))]
        while stack:
            index, edges_left = stack[-1]
            following = next(edges_left, None)
            if following is None:
                state[index] = 2
                stack.pop()
            elif state[following] == 1:
                return following
            elif state[following] == 0:
                state[following] = 1
                stack.append((following, iter(left[following])))
    return None


def check(grammar: str) -> None:
    """Raises :class:`GrammarError` in plain words unless llama.cpp would accept ``grammar``."""
    if not grammar.strip():
        raise GrammarError("The grammar is empty.", _HINT)
    if len(grammar) > MAX_GRAMMAR_CHARS:
        raise GrammarError(f"The grammar is longer than {MAX_GRAMMAR_CHARS:,} characters.", _HINT)
    if "\x00" in grammar:
        raise GrammarError("The grammar contains a NUL character.", _HINT)
    parser = _Parser(grammar)
    try:
        pos = parser.space(0, True)
        while pos < len(grammar):
            pos = parser.rule(pos)
    except RecursionError:
        raise GrammarError("The grammar's groups are nested too deeply.", _HINT) from None
    names = {index: name for name, index in parser.symbols.items()}
    for index in range(len(parser.symbols)):
        if index not in parser.rules:
            raise GrammarError(f"The grammar uses the rule “{names[index]}” but never defines it.", _HINT)
    if ROOT not in parser.symbols:
        raise GrammarError("The grammar has no “root” rule: the output starts there.", _HINT)
    bad = _left_recursive([parser.rules[i] for i in range(len(parser.symbols))])
    if bad is not None:
        name = names[bad].split("_")[0]  # a rule made for a group or a repetition: its rule's name
        raise GrammarError(
            f"The grammar's rule “{name}” is left-recursive (it can start with itself), which llama.cpp cannot use.",
            "Rewrite it with repetition, e.g. `list ::= item (\",\" item)*`.",
        )
