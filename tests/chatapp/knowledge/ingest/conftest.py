"""Fixtures for the ingest tests: PDFs and a Sphinx-like HTML page built in code, and refusals."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from chatapp.knowledge.ingest.errors import DocumentError
from chatapp.knowledge.ingest.parsers import parse_document

MakePdf = Callable[..., bytes]


def refusal(data: bytes, filename: str, max_bytes: int = 20_000_000) -> DocumentError:
    """The DocumentError that parse_document raises for this upload (fails if none is raised)."""
    with pytest.raises(DocumentError) as caught:
        parse_document(data, filename=filename, max_bytes=max_bytes)
    return caught.value


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


@pytest.fixture
def make_pdf() -> MakePdf:
    """Build a PDF whose pages hold the given lines of Helvetica text (an empty list: no text)."""

    def build(
        pages: list[list[str]], *, title: str | None = None, password: str | None = None
    ) -> bytes:
        writer = PdfWriter()
        font = writer._add_object(
            DictionaryObject(
                {
                    NameObject("/Type"): NameObject("/Font"),
                    NameObject("/Subtype"): NameObject("/Type1"),
                    NameObject("/BaseFont"): NameObject("/Helvetica"),
                }
            )
        )
        for lines in pages:
            page = writer.add_blank_page(612, 792)
            if not lines:
                continue
            ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"]
            ops += [f"({_escape(line)}) Tj T*" for line in lines]
            stream = DecodedStreamObject()
            stream.set_data("\n".join([*ops, "ET"]).encode("latin-1"))
            page[NameObject("/Contents")] = writer._add_object(stream)
            page[NameObject("/Resources")] = DictionaryObject(
                {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
            )
        if title is not None:
            writer.add_metadata({"/Title": title})
        if password is not None:
            writer.encrypt(user_password=password, owner_password="owner", algorithm="AES-128")
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    return build


SPHINX_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8" />
<title>4. More Control Flow Tools &#8212; Python 3.11.2 documentation</title>
<script src="../_static/jquery.js"></script><style>body { color: red }</style>
</head><body>
<a class="skip-link" href="#main">Skip to content</a>
<div id="cookie-banner">We use cookies to improve your experience. Accept?</div>
<div class="mobile-nav"><nav class="nav-content" role="navigation">Python logo menu</nav></div>
<div class="related" role="navigation" aria-label="related navigation"><h3>Navigation</h3>
<ul><li><a href="../genindex.html">index</a></li></ul></div>
<div class="document"><div class="documentwrapper"><div class="bodywrapper">
<div class="body" role="main">
<section id="more-control-flow-tools">
<span id="tut-morecontrol"></span><h1><span class="section-number">4. </span>More Control Flow
Tools<a class="headerlink" href="#more-control-flow-tools" title="Permalink">\u00b6</a></h1>
<p>Besides the <code>while</code> statement just introduced, Python uses the usual flow
control statements known from other languages, with some twists.</p>
<section id="if-statements">
<h2><span class="section-number">4.1. </span>if Statements<a class="headerlink"
href="#if-statements">\u00b6</a></h2>
<p>Perhaps the most well-known statement type is the <a href="#">if</a> statement.
For example:</p>
<div class="highlight-python3 notranslate"><div class="highlight"><pre><span></span><span
class="gp">&gt;&gt;&gt; </span><span class="k">if</span> x &lt; 0:
<span class="gp">... </span>    x = 0

<span class="gp">... </span>    print('Negative')
</pre></div></div>
<ul class="simple">
<li><p>There can be zero or more <code>elif</code> parts.</p></li>
<li><p>The <code>else</code> part is optional.</p></li>
</ul>
<table class="docutils"><thead><tr><th>Keyword</th><th>Meaning</th></tr></thead>
<tbody><tr><td>elif</td><td>else if</td></tr></tbody></table>
</section>
<section id="built-ins">
<h2>Built-ins</h2>
<dl class="py function">
<dt class="sig sig-object py" id="abs"><span class="sig-name descname">abs</span><span
class="sig-paren">(</span><em>x</em><span class="sig-paren">)</span><a class="headerlink"
href="#abs">\u00b6</a></dt>
<dd><p>Return the absolute value of a number.</p></dd></dl>
<p>Text after the definition.</p>
</section>
</section>
</div></div></div>
<div class="sphinxsidebar" role="navigation"><h3>Table of Contents</h3><p>sidebar text</p></div>
<div class="clearer"></div></div>
<div class="footer">&copy; Copyright 2001-2023, Python Software Foundation.</div>
</body></html>
"""


@pytest.fixture
def sphinx_page() -> bytes:
    """A trimmed copy of the shape of docs.python.org's Sphinx output."""
    return SPHINX_PAGE.encode()
