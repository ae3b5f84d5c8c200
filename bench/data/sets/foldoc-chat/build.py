#!/usr/bin/env python3
"""Build paragraphs.jsonl for the foldoc-chat retrieval set (standard library only).

Source: the Debian package dict-foldoc (dictd format),
/usr/share/dictd/foldoc.dict.dz + foldoc.index.
Install with:  apt-get install -y dict-foldoc

Run from the repository root:
    python3 bench/data/sets/foldoc-chat/build.py

Steps (see README.md):
  1. read the .index (headword, base64 offset, base64 length), group the
     headwords that point at the same entry, read each entry once;
  2. drop the headword line(s) (everything before the first blank line);
  3. split the body into paragraphs, join wrapped lines, strip FOLDOC
     markup ({cross refs} -> their text, {label (target)} -> label,
     {(url)} -> removed, leading <category> tags, <e-mail> addresses,
     bare URLs), drop date lines "(1999-03-04)", bracketed source lines
     "[Jargon File]", URL/link-only lines and contact lines
     (E-mail:, Address:, Telephone:, Fax:, Mailing list:, Usenet newsgroup:);
  4. keep the whole remaining entry text (paragraphs joined by one space)
     when it has 60..250 words and contains no code block;
  5. sort by headword and draw random.Random(2026).sample(eligible, 1200);
     the sample is written in headword order with ids f0000..f1199.
"""

import gzip
import json
import os
import random
import re
import sys

DICT = "/usr/share/dictd/foldoc.dict.dz"
INDEX = "/usr/share/dictd/foldoc.index"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "paragraphs.jsonl")
SEED = 2026
N = 1200
MIN_WORDS, MAX_WORDS = 60, 250

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
B64_VAL = {c: i for i, c in enumerate(B64)}


def b64num(s):
    n = 0
    for c in s:
        n = n * 64 + B64_VAL[c]
    return n


DATE_RE = re.compile(r"^\(\d{4}-\d{2}-\d{2}\)\.?$")
CONTACT_RE = re.compile(
    r"^(e-?mail|address|telephone|tel|fax|mailing list|usenet newsgroups?|"
    r"newsgroups?|ftp|home page|latest version|contact|headquarters)\b\s*:",
    re.I,
)
URL_RE = re.compile(r"\b(?:https?|ftp|news|mailto|telnet|gopher|img|file):[^\s{}()<>]+", re.I)
EMAIL_RE = re.compile(r"<[^<>\s]+@[^<>\s]+>")
# subject tags such as "<language>" or "<networking, protocol>" at the start
# of an entry or of a numbered sense ("2. <jargon> ...", "(IVR) <communications>")
CATEGORY_RE = re.compile(r"(^|\d\.\s|\)\s)<[A-Za-z][A-Za-z0-9 ,/&'.-]{0,80}>\s*")
BRACE_RE = re.compile(r"\{([^{}]*)\}")
TARGET_RE = re.compile(r"^(.*?)\s*\(([^()]*)\)$", re.S)


def is_crossref(inner):
    """True if the {...} group is FOLDOC link markup rather than code or maths."""
    if not inner.strip() or inner[:1].isspace():
        return False  # code blocks start with a newline/indent
    return not (len(inner) > 150 or any(ch in inner for ch in ";|=\\"))


def strip_brace(m):
    inner = m.group(1)
    if not is_crossref(inner):
        return m.group(0)
    inner = " ".join(inner.split())
    t = TARGET_RE.match(inner)
    if t:
        # {label (target)}: target is a URL or another headword; keep the label
        return t.group(1)
    return inner


def clean_paragraph(lines):
    text = " ".join(ln.strip() for ln in lines)
    text = " ".join(text.split())
    if not text:
        return ""
    if DATE_RE.match(text):
        return ""
    if text.startswith("[") and text.rstrip(".").endswith("]"):
        return ""  # source / bibliography line, e.g. [{Jargon File}]
    if CONTACT_RE.match(text):
        return ""
    had_link = bool(URL_RE.search(text) or re.search(r"\([^()]*\.html?\)", text))
    prev = None
    while prev != text:  # some entries carry two tags: "<tool, x> <tool>"
        prev, text = text, CATEGORY_RE.sub(r"\1", text)
    text = BRACE_RE.sub(strip_brace, text)
    text = EMAIL_RE.sub("", text)
    text = URL_RE.sub("", text)
    text = re.sub(r"\(\s*\)", "", text)
    # "foo (url)." -> "foo." but keep ".com", ".us" etc. intact
    text = re.sub(r"\s+([.,;:])(?=\s|$)", r"\1", text)
    # contact labels whose value (an e-mail address or URL) was removed
    text = re.sub(
        r"\b(?:E-?mail|Mailing list|Telephone|Fax|FTP|Usenet newsgroup)\s*:\s*[.,;]?(?=\s|$)",
        "",
        text,
        flags=re.I,
    )
    text = re.sub(r"^[\s.,;:]+", "", text)
    text = re.sub(r"([.;:])(\s+[.,;:])+(?=\s|$)", r"\1", text)  # ". ." left by a removed link
    text = " ".join(text.split())
    if CONTACT_RE.match(text):
        return ""
    text = " ".join(text.split())
    # link-only line (e.g. "{Home page (http://...)}."): once the URL is
    # gone, nothing is left but punctuation / a couple of words
    words = re.findall(r"[A-Za-z0-9]+", text)
    if not words or (had_link and len(words) < 3):
        return ""
    return text


def parse_entry(raw):
    lines = raw.split("\n")
    # headword line(s): everything before the first blank line
    i = 0
    while i < len(lines) and lines[i].strip():
        i += 1
    title = lines[0].strip()
    body = lines[i:]
    paras, cur, code = [], [], False
    for ln in body:
        if ln.strip():
            cur.append(ln)
        elif cur:
            paras.append(cur)
            cur = []
    if cur:
        paras.append(cur)
    out = []
    for p in paras:
        # code / example blocks are indented deeper than the normal 3 spaces
        if any(ln.startswith("\t") or (len(ln) - len(ln.lstrip(" ")) > 4) for ln in p):
            code = True
            continue
        t = clean_paragraph(p)
        if t:
            out.append(t)
    text = " ".join(out)
    if "{" in text or "}" in text:
        code = True
    return title, text, code


def main():
    if not (os.path.exists(DICT) and os.path.exists(INDEX)):
        sys.exit(f"missing {DICT} / {INDEX}: apt-get install -y dict-foldoc")
    with gzip.open(DICT) as compressed:
        data = compressed.read()
    spans = {}
    with open(INDEX, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                continue
            head, off, ln = parts
            if head.startswith(("00-database", "00database")):
                continue
            spans.setdefault((b64num(off), b64num(ln)), head)
    eligible = []
    for off, ln in sorted(spans):
        raw = data[off : off + ln].decode("utf-8")
        title, text, code = parse_entry(raw)
        if code or not title:
            continue
        n = len(text.split())
        if MIN_WORDS <= n <= MAX_WORDS:
            eligible.append((title.casefold(), title, off, text))
    eligible.sort()
    if len(eligible) < N:
        sys.exit(f"only {len(eligible)} eligible entries")
    picked = random.Random(SEED).sample(eligible, N)
    picked.sort()
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        for i, (_, title, _, text) in enumerate(picked):
            f.write(
                json.dumps({"id": f"f{i:04d}", "title": title, "text": text}, ensure_ascii=False)
                + "\n"
            )
    print(
        f"entries: {len(spans)}, eligible ({MIN_WORDS}-{MAX_WORDS} words): {len(eligible)}, "
        f"written: {N} -> {OUT}"
    )


if __name__ == "__main__":
    main()
