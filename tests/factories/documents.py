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
