"""Markdown to the HTML subset that Qt's rich-text engine draws, with highlighted code.

markdown-it-py parses (CommonMark plus tables and strikethrough, raw HTML escaped:
the text comes from a model and is never trusted), Pygments colours code blocks
with inline styles (Qt's rich text has no style sheets for classes). Each code
block carries a "Copy" link whose address, ``copy-code:N``, names the block in
:attr:`RenderedMarkdown.code_blocks`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name, guess_lexer
from pygments.util import ClassNotFound

COPY_CODE_SCHEME = "copy-code"
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

    @staticmethod
    def _block(code: str, language: str, env: EnvType) -> str:
        blocks: list[str] = env.setdefault("code_blocks", [])
        blocks.append(code.rstrip("\n"))
        return _code_block(code, language, len(blocks) - 1)


def _parser(hard_breaks: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": hard_breaks}, renderer_cls=_QtRenderer)
    md.enable(["table", "strikethrough"])
    return md


_MD = _parser(hard_breaks=False)
_MD_HARD_BREAKS = _parser(hard_breaks=True)


def render_markdown(text: str, hard_breaks: bool = False) -> RenderedMarkdown:
    """``hard_breaks`` keeps every line break as typed (for the user's own messages)."""
    env: dict[str, Any] = {}
    body = (_MD_HARD_BREAKS if hard_breaks else _MD).render(text, env)
    return RenderedMarkdown(html=body, code_blocks=list(env.get("code_blocks", [])))
