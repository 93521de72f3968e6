"""Markdown for replies: highlighted code blocks with copy links, and nothing raw from the model."""

from __future__ import annotations

from desktop_app.ui.shared.markdown_render import COPY_CODE_SCHEME, render_markdown

REPLY = """Here is **bold** text and `inline code`.

```python
def add(a, b):
    return a + b
```

| a | b |
|---|---|
| 1 | 2 |

    indented block

<script>alert('x')</script>
"""


def test_code_blocks_are_highlighted_and_copyable() -> None:
    rendered = render_markdown(REPLY)
    assert rendered.code_blocks == ["def add(a, b):\n    return a + b", "indented block"]
    assert f'href="{COPY_CODE_SCHEME}:0"' in rendered.html
    assert f'href="{COPY_CODE_SCHEME}:1"' in rendered.html
    assert "<strong>bold</strong>" in rendered.html
    assert "<code>inline code</code>" in rendered.html
    assert "<table" in rendered.html and "<td>1</td>" in rendered.html
    # Pygments colours the keyword with an inline style (Qt's rich text has no class styles).
    assert 'style="color: #008000; font-weight: bold">def</span>' in rendered.html


def test_raw_html_from_the_model_is_escaped() -> None:
    rendered = render_markdown(REPLY)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html


def test_user_text_keeps_its_line_breaks() -> None:
    assert "<br" in render_markdown("first line\nsecond line", hard_breaks=True).html
    assert "<br" not in render_markdown("first line\nsecond line").html


def test_unclosed_fence_while_streaming_still_renders_as_code() -> None:
    rendered = render_markdown("Start:\n```js\nconst x = 1;")
    assert rendered.code_blocks == ["const x = 1;"]
