"""Markdown to the HTML subset that Qt's rich-text engine draws, with highlighted code.

markdown-it-py parses (CommonMark plus tables and strikethrough, raw HTML escaped:
the text comes from a model and is never trusted), Pygments colours code blocks
with inline styles (Qt's rich text has no style sheets for classes). Each code
block carries a "Copy" link whose address, ``copy-code:N``, names the block in
:attr:`RenderedMarkdown.code_blocks`.

An answer from documents cites its sources as [1], [2]: given the numbers that
exist, each one becomes a link ``cite:N`` (outside code), titled with its source;
a group such as [2, 3] shows as [2][3].

A link the model wrote leads off this computer and may be made up: it is drawn as a link
(blue, underlined, unlike a citation) with its full address beside its text, and only
http(s) and mailto addresses stay links at all. Opening one asks first (the chat view).

An image is never drawn: Qt would fetch its source itself, with no click (a local file, a
device, a network share). It shows as its description and address, as text; an http(s)
address is a link that asks before opening, like any other.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name, guess_lexer
from pygments.util import ClassNotFound

from desktop_app.core.rag.answer import citation_spans

COPY_CODE_SCHEME = "copy-code"
CITATION_SCHEME = "cite"
CITATION_STYLE = "color:#c2410c; text-decoration:none; font-weight:600;"
LINK_STYLE = "color:#0969da; text-decoration:underline;"
ADDRESS_STYLE = "color:#57606a;"
EXTERNAL_SCHEMES = ("http", "https", "mailto")
CODE_BACKGROUND = "#f6f8fa"
CODE_BORDER = "#d8dee4"
_FORMATTER = HtmlFormatter(noclasses=True, nowrap=True, style="default")


@dataclass
class RenderedMarkdown:
    html: str
    code_blocks: list[str] = field(default_factory=list)


def _highlight(code: str, language: str) -> str:
    try:
        lexer = get_lexer_by_name(language) if language else guess_lexer(code)
    except ClassNotFound:
        return html.escape(code)
    if not language and lexer.name == "Text only":
        return html.escape(code)
    return highlight(code, lexer, _FORMATTER).rstrip("\n")


def _code_block(code: str, language: str, index: int) -> str:
    label = html.escape(language) if language else "code"
    body = _highlight(code.rstrip("\n"), language)
    return (
        f'<table width="100%" cellspacing="0" cellpadding="8" border="0" '
        f'style="background-color:{CODE_BACKGROUND}; border: 1px solid {CODE_BORDER}; margin: 6px 0px;">'
        f'<tr><td><p style="margin:0px; color:#57606a; font-size:small;">{label} &nbsp; '
        f'<a href="{COPY_CODE_SCHEME}:{index}" style="color:#0969da; text-decoration:none;">Copy</a></p>'
        f'<pre style="white-space: pre-wrap; margin: 4px 0px 0px 0px;">{body}</pre></td></tr></table>'
    )


class _QtRenderer(RendererHTML):
    """Renders fenced and indented code as a highlighted block with a copy link."""

    def fence(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        language = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
        return self._block(token.content, language, env)

    def code_block(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self._block(tokens[idx].content, "", env)

    def link_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        href = str(token.attrGet("href") or "")
        if href.split(":", 1)[0].lower() in (CITATION_SCHEME, COPY_CODE_SCHEME):
            return super().renderToken(tokens, idx, options, env)
        if href.split(":", 1)[0].lower() not in EXTERNAL_SCHEMES:
            env.setdefault("dropped_links", []).append(idx)
            return ""  # a relative or unknown address is no link: its text stays, as text
        token.attrSet("style", LINK_STYLE)
        token.attrSet("title", f"{href} (outside this computer; Hearth asks before opening it)")
        return super().renderToken(tokens, idx, options, env)

    def link_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        opener = _opener(tokens, idx)
        if opener is None:
            return super().renderToken(tokens, idx, options, env)
        if tokens.index(opener) in env.get("dropped_links", []):  # markdown-it's free-form env: our own keys
            return ""
        href = str(opener.attrGet("href") or "")
        if href.split(":", 1)[0].lower() not in EXTERNAL_SCHEMES:
            return super().renderToken(tokens, idx, options, env)
        text = "".join(t.content for t in tokens[tokens.index(opener) + 1 : idx] if t.type in ("text", "code_inline"))
        closing = super().renderToken(tokens, idx, options, env)
        shown = href.removeprefix("mailto:")
        if text.strip() == shown:
            return closing
        return f'{closing} <span style="{ADDRESS_STYLE}">({html.escape(href)})</span>'

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        alt = self.renderInlineAsText(token.children or [], options, env).strip()
        label = html.escape(f"[image: {alt}]" if alt else "[image]")
        address = f' <span style="{ADDRESS_STYLE}">({html.escape(src)})</span>' if src else ""
        if src.split(":", 1)[0].lower() in ("http", "https"):
            title = html.escape(f"{src} (outside this computer; Hearth asks before opening it)", quote=True)
            link = f'<a href="{html.escape(src, quote=True)}" title="{title}" style="{LINK_STYLE}">{label}</a>'
            return link + address
        return label + address

    @staticmethod
    def _block(code: str, language: str, env: EnvType) -> str:
        blocks: list[str] = env.setdefault("code_blocks", [])
        blocks.append(code.rstrip("\n"))
        return _code_block(code, language, len(blocks) - 1)


def _opener(tokens: Sequence[Token], close_index: int) -> Token | None:
    """The link_open that ``tokens[close_index]`` (a link_close) ends."""
    depth = 0
    for token in reversed(tokens[:close_index]):
        if token.type == "link_close":
            depth += 1
        elif token.type == "link_open":
            if depth == 0:
                return token
            depth -= 1
    return None


def _citation_tokens(text: str, sources: Mapping[int, str]) -> list[Token]:
    """``text`` split into plain text and one link per cited number that names a source."""
    tokens: list[Token] = []
    done = 0

    def plain(part: str) -> None:
        if part:
            token = Token("text", "", 0)
            token.content = part
            tokens.append(token)

    for start, end, numbers in citation_spans(text):
        if not any(n in sources for n in numbers):
            continue  # numbers that match no source stay as written
        plain(text[done:start])
        for number in numbers:  # [2, 3] shows as [2][3]: one link per source
            if number not in sources:
                plain(f"[{number}]")
                continue
            link = Token("link_open", "a", 1)
            link.attrs = {"href": f"{CITATION_SCHEME}:{number}", "title": sources[number], "style": CITATION_STYLE}
            tokens.append(link)
            plain(f"[{number}]")
            tokens.append(Token("link_close", "a", -1))
        done = end
    plain(text[done:])
    return tokens


def _citation_links(state: StateCore) -> None:
    """A core rule: turns the citations in text (not in code, not inside links) into links."""
    sources = state.env.get("citations")  # markdown-it's free-form env (render_markdown sets it)
    if not sources:
        return
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        in_link = 0
        for token in block.children:
            if token.type == "link_open":
                in_link += 1
            elif token.type == "link_close":
                in_link -= 1
            if token.type == "text" and not in_link and ("[" in token.content or "【" in token.content):
                children.extend(_citation_tokens(token.content, sources))
            else:
                children.append(token)
        block.children = children


def _parser(hard_breaks: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": hard_breaks}, renderer_cls=_QtRenderer)
    md.enable(["table", "strikethrough"])
    md.core.ruler.push("citation_links", _citation_links)
    return md


_MD = _parser(hard_breaks=False)
_MD_HARD_BREAKS = _parser(hard_breaks=True)


def render_markdown(
    text: str, hard_breaks: bool = False, citations: Mapping[int, str] | None = None
) -> RenderedMarkdown:
    """``hard_breaks`` keeps every line break as typed (for the user's own messages).
    ``citations`` maps each source number of an answer from documents to its location:
    those numbers, cited as [n], become ``cite:n`` links."""
    env: dict[str, Any] = {"citations": dict(citations or {})}
    body = (_MD_HARD_BREAKS if hard_breaks else _MD).render(text, env)
    return RenderedMarkdown(html=body, code_blocks=list(env.get("code_blocks", [])))  # set by the renderer, if any
