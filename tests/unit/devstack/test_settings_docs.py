"""The settings tables of docs/ come from the settings modules (devstack.settings_docs), and the
modules document exactly what each service reads: a variable read but not documented, or
documented but never read, fails here."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from devstack import settings_docs
from services.batch_orchestrator import settings as batch_orchestrator
from services.content_service import settings as content_service
from services.essay_lifecycle import settings as essay_lifecycle
from services.file_service import settings as file_service
from services.mesh import settings as mesh_settings
from services.spell_checker import settings as spell_checker

SERVICES: dict[str, tuple[ModuleType, Callable[[], object]]] = {
    "batch_orchestrator": (batch_orchestrator, batch_orchestrator.BosSettings.from_env),
    "content_service": (content_service, content_service.ContentServiceSettings.from_env),
    "essay_lifecycle": (essay_lifecycle, essay_lifecycle.EssayLifecycleSettings.from_env),
    "file_service": (file_service, file_service.FileServiceSettings.from_env),
    "spell_checker": (spell_checker, spell_checker.SpellCheckerSettings.from_env),
}


def test_the_docs_show_the_tables_the_settings_modules_give() -> None:
    stale = [path.name for path, text in settings_docs.pages().items() if path.read_text() != text]

    assert stale == [], "run: python -m devstack.settings_docs"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_service_reads_exactly_what_it_documents(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, from_env = SERVICES[name]
    read: set[str] = set()
    raw = mesh_settings._raw

    def recording(variable: str) -> str | None:
        read.add(variable)
        return raw(variable)

    monkeypatch.setattr(mesh_settings, "_raw", recording)
    from_env()
    documented = {row.variable for row in module.DOCUMENTED}
    shared = {row.variable for row in mesh_settings.SHARED_SETTINGS}

    assert read - documented - shared == set(), "read but not documented"
    assert documented - read == set(), "documented but not read"


def test_no_variable_is_documented_twice_in_one_table() -> None:
    for _page, rows in settings_docs.TABLES.values():
        variables = [row.variable for row in rows]
        assert len(variables) == len(set(variables))
