"""A folder of help files in every supported format (plus a broken PDF), for import tests."""

from __future__ import annotations

from pathlib import Path

BROKEN_PDF_REASON = "corrupt: broken.pdf is not a PDF file (no %PDF header)."
HELP_FILES = {
    "help/billing.md": "# Billing\n\nRefunds take five days.\n\n## Cards\n\nWe accept Visa.\n",
    "help/notes/shipping.txt": "Shipping\n========\n\nWe ship worldwide within two days.\n",
    "help/notes/returns.html": (
        "<html><head><title>Returns | Acme</title></head><body><nav>Menu</nav>"
        "<main><h1>Returns</h1><p>Send items back within 30 days.</p></main></body></html>"
    ),
    "help/broken.pdf": "this is not a PDF at all",
    "help/logo.png": "\x89PNG not imported from a folder",
    "help/.git/HEAD.md": "# hidden folders are skipped",
    "extra/faq-1.md": "# Gift cards\n\nGift cards never expire.\n",
    "extra/faq-2.md": "# Warranty\n\nLamps carry a two-year warranty.\n",
    "extra/other.md": "# Not matched by the glob\n\nBody.\n",
}
# Argument order, then sorted within each argument (files of a folder before its subfolders).
IMPORTED = [
    "help/billing.md",
    "help/broken.pdf",
    "help/notes/returns.html",
    "help/notes/shipping.txt",
    "extra/faq-1.md",
    "extra/faq-2.md",
]


def make_help_folder(root: Path) -> list[str]:
    """Write HELP_FILES under ``root``; return the import arguments: a folder and a glob."""
    for name, text in HELP_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return [str(root / "help"), str(root / "extra" / "faq-*.md")]


def make_zip(files: dict[str, bytes], *, encrypted: tuple[str, ...] = ()) -> bytes:
    """A zip archive holding ``files`` (path -> bytes); ``encrypted`` members are flagged so.

    zipfile cannot write encrypted members, so their "encrypted" bit is set afterwards in the
    local and central headers: enough for a reader to refuse them.
    """
    import io
    import struct
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    raw = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as archive:
        offsets = {i.filename: i.header_offset for i in archive.infolist()}
        central = archive.start_dir  # where the central directory begins
    for name in encrypted:
        raw[offsets[name] + 6] |= 0x1  # local header: general purpose flags
    while raw[central : central + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack("<HHH", raw[central + 28 : central + 34])
        if raw[central + 46 : central + 46 + name_len].decode() in encrypted:
            raw[central + 8] |= 0x1  # central directory: general purpose flags
        central += 46 + name_len + extra_len + comment_len
    return bytes(raw)
