"""Django settings: facts read from the project's settings modules.

A settings module is a file named ``settings.py`` (also ``settings_<env>.py`` /
``<env>_settings.py``) or any module inside a ``settings/`` package; test settings
(``test_settings.py``, ``settings/test.py``...) are left out, since they never
serve requests.

ATOMIC_REQUESTS: Django reads it per database, from ``DATABASES = {"default": {...,
"ATOMIC_REQUESTS": True}}`` or ``DATABASES["default"]["ATOMIC_REQUESTS"] = True`` (also a
dict built earlier and put into DATABASES, or ``.update({"ATOMIC_REQUESTS": True})``).
A top-level ``ATOMIC_REQUESTS = True`` is not a Django setting (Django ignores it), so
it is ignored here too. A value that is not literally false (``env.bool(...)``) counts
as on: it may be on, and a rule must not claim the opposite.

The collector (``DjangoSettings``) and its reader are in ``backendlint.index.settings``.
"""

from __future__ import annotations

FACT_KIND = "django_settings"
FACTS = (FACT_KIND,)
KEY = "ATOMIC_REQUESTS"


def is_settings_module(relpath: str) -> bool:
    parts = relpath.replace("\\", "/").split("/")
    name = parts[-1]
    if not name.endswith(".py"):
        return False
    stem = name[:-3]
    if "test" in stem.lower() or any(p in ("tests", "test") for p in parts[:-1]):
        return False
    if stem == "settings" or stem.startswith("settings_") or stem.endswith("_settings"):
        return True
    return "settings" in parts[:-1]
