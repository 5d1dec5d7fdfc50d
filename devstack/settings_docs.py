"""The settings tables of docs/, written from the settings modules (their DOCUMENTED, and
services.mesh.settings.SHARED_SETTINGS): one source for what a variable means and its default.

    python -m devstack.settings_docs           write the tables into docs/
    python -m devstack.settings_docs --check   exit 1 when docs/ differs from what would be written

Each table sits between `<!-- settings: NAME -->` and `<!-- /settings -->` in its page; the rest
of the page is written by hand.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from services.batch_orchestrator import settings as batch_orchestrator
from services.content_service import settings as content_service
from services.essay_lifecycle import settings as essay_lifecycle
from services.file_service import settings as file_service
from services.mesh.settings import SHARED_SETTINGS, Documented
from services.spell_checker import settings as spell_checker

DOCS = Path(__file__).resolve().parent.parent / "docs"
# table name -> (page, rows)
TABLES: dict[str, tuple[str, Sequence[Documented]]] = {
    "shared": ("development.md", SHARED_SETTINGS),
    "batch_orchestrator": ("services.md", batch_orchestrator.DOCUMENTED),
    "essay_lifecycle": ("services.md", essay_lifecycle.DOCUMENTED),
    "content_service": ("services.md", content_service.DOCUMENTED),
    "file_service": ("services.md", file_service.DOCUMENTED),
    "spell_checker": ("services.md", spell_checker.DOCUMENTED),
}


def render(rows: Sequence[Documented]) -> str:
    """A Markdown table of the variables."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{row.variable}` | {row.default} | {row.meaning} |" for row in rows]
    return "\n".join(lines)


def written(text: str, name: str, rows: Sequence[Documented]) -> str:
    """`text` with the table `name` written between its markers."""
    pattern = re.compile(
        rf"(<!-- settings: {re.escape(name)} -->\n).*?(\n<!-- /settings -->)", re.DOTALL
    )
    if not pattern.search(text):
        raise LookupError(f"no <!-- settings: {name} --> … <!-- /settings --> in the page")
    return pattern.sub(lambda m: m.group(1) + render(rows) + m.group(2), text, count=1)


def pages(docs: Path = DOCS) -> dict[Path, str]:
    """Every page with a settings table, as it should read."""
    texts: dict[Path, str] = {}
    for name, (page, rows) in TABLES.items():
        path = docs / page
        texts[path] = written(texts.get(path, path.read_text()), name, rows)
    return texts


def main(argv: Sequence[str] | None = None) -> int:
    """Write the tables, or with --check say which pages differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args(argv)
    stale = [path for path, text in pages().items() if path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path}: settings tables out of date: run python -m devstack.settings_docs")
        return 1 if stale else 0
    for path, text in pages().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
