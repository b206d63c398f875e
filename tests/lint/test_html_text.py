"""HTML to the text a reader sees: what joins, what separates, what vanishes."""

from __future__ import annotations

import random

import pytest

from proxy.lint.html_text import html_to_text


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        # Comments vanish without leaving a separator.
        ("123-45<!-- x -->-6789", "123-45-6789"),
        ("123<!---->45<!-- a\nmultiline -->6789", "123456789"),
        ("<!--[if mso]><p>outlook only</p><![endif]-->SSN", "SSN"),
        # Inline tags join their neighbours.
        ("12<b>3</b>", "123"),
        ("1<span>2</span><i>3</i><a href='x'>4</a><font>5</font>", "12345"),
        # Character references, numeric and named.
        ("&#49;23-45-6789", "123-45-6789"),
        ("&#x31;&#x32;3", "123"),
        ("a&nbsp;b", "a b"),
        ("Smith &amp; Sons &lt;ok&gt; &quot;q&quot; &copy;", 'Smith & Sons <ok> "q" ©'),
        ("&bogus; stays", "&bogus; stays"),
        # Invisible characters that would split a number are removed.
        ("123&#8203;-45&shy;-6789", "123-45-6789"),
        # Script and style are never shown.
        ("<script>var ssn='999-99-9999';</script>visible", "visible"),
        ("<style>.a{color:red}</style>visible", "visible"),
        ("<SCRIPT type='text/javascript'>x()</SCRIPT>after", "after"),
        # Block elements separate.
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("<div>one</div><div>two</div>", "one\ntwo"),
        ("a<br>b<br/>c", "a\nb\nc"),
        ("a<br><br>b", "a\n\nb"),
        ("<ul><li>one</li><li>two</li></ul>", "one\ntwo"),
        ("<h1>Title</h1>Body", "Title\n\nBody"),
        ("<table><tr><td>Name</td><td>Ana</td></tr><tr><td>DOB</td><td>1/2/80</td></tr></table>",
         "Name Ana\nDOB 1/2/80"),
        # Source whitespace collapses as a browser would; <pre> keeps it.
        ("  lots   of\n\n  space  ", "lots of space"),
        ("a <b> b</b>", "a b"),
        ("<pre>  x\n  y</pre>", "  x\n  y"),
        # Quoted replies keep a "> " prefix on every line.
        ("<p>Mine</p><blockquote><p>theirs</p><p>more</p></blockquote>",
         "Mine\n\n> theirs\n\n> more"),
        ("<blockquote>a<blockquote>b</blockquote></blockquote>", "> a\n> > b"),
        # Malformed markup never loses text.
        ("<p>unclosed <b>bold", "unclosed bold"),
        ("</div></p>stray closers", "stray closers"),
        ("<p", "<p"),
        ("", ""),
    ],
)  # fmt: skip
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_random_markup_never_raises() -> None:
    rng = random.Random(42)
    alphabet = [*"<>/!-&#;=\"' abcdpre123\n", "<!--", "-->", "<script>", "</script>", "&#"]
    for _ in range(500):
        html = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 200)))
        assert isinstance(html_to_text(html), str)
