"""BL304 ineffective-atomic-requests: ATOMIC_REQUESTS where Django never reads it."""

from __future__ import annotations

from helpers import lint


def found(tmp_path, files):
    tmp_path.mkdir(exist_ok=True)
    return [(d.path, d.line, d.severity) for d in lint(tmp_path, files, select=["BL304"])]


def test_module_level_spellings(tmp_path):
    files = {
        "proj/settings.py": (
            "from decouple import config\n"
            "ATOMIC_REQUESTS = config('ATOMIC_REQUESTS', default=True, cast=bool)\n"
            "if DEBUG:\n"
            "    ATOMIC_REQUESTS = True\n"
            "try:\n"
            "    from .local import *\n"
            "except ImportError:\n"
            "    ATOMIC_REQUESTS: bool = True\n"
        ),
    }
    assert found(tmp_path, files) == [("proj/settings.py", 2, "high"), ("proj/settings.py", 4, "high"), ("proj/settings.py", 8, "high")]


def test_settings_package_and_env_files(tmp_path):
    files = {
        "proj/settings/base.py": "ATOMIC_REQUESTS = True\n",
        "proj/prod_settings.py": "ATOMIC_REQUESTS = True\n",
        "proj/settings_dev.py": "ATOMIC_REQUESTS = True\n",
        "proj/test_settings.py": "ATOMIC_REQUESTS = True\n",  # test settings never serve requests
        "proj/constants.py": "ATOMIC_REQUESTS = True\n",  # not a settings module
    }
    assert [p for p, _, _ in found(tmp_path, files)] == ["proj/prod_settings.py", "proj/settings/base.py", "proj/settings_dev.py"]


def test_module_named_by_django_settings_module(tmp_path):
    files = {
        "manage.py": "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.live')\n",
        "config/__init__.py": "",
        "config/live.py": "ATOMIC_REQUESTS = True\n",
        "config/other.py": "ATOMIC_REQUESTS = True\n",
    }
    assert found(tmp_path, files) == [("config/live.py", 1, "high")]
    files["wsgi.py"] = "import os\nos.environ['DJANGO_SETTINGS_MODULE'] = 'config'\n"
    assert [p for p, _, _ in found(tmp_path / "b", files)] == ["config/live.py", "config/other.py"]


def test_class_based_settings(tmp_path):
    files = {"proj/settings.py": (
        "from configurations import Configuration\n"
        "class Base(Configuration):\n"
        "    ATOMIC_REQUESTS = True\n"
        "    def helper(self):\n"
        "        ATOMIC_REQUESTS = False\n"
        "        return ATOMIC_REQUESTS\n"
    )}
    diags = lint(tmp_path, files, select=["BL304"])
    assert [(d.line, d.severity) for d in diags] == [(3, "high")]
    assert "as a class attribute of Base" in diags[0].message
    assert 'DATABASES["default"]["ATOMIC_REQUESTS"] = True' in diags[0].message
    assert diags[0].context == "settings"


def test_the_key_inside_databases_is_not_reported(tmp_path):
    files = {"proj/settings.py": (
        "DATABASES = {'default': {'NAME': 'x', 'ATOMIC_REQUESTS': True}}\n"
        "DATABASES['default']['ATOMIC_REQUESTS'] = True\n"
        "DATABASES['other'] = dict(ATOMIC_REQUESTS=True)\n"
        "options = {'ATOMIC_REQUESTS': True}\n"
    )}
    assert found(tmp_path, files) == []


def test_severity_low_when_an_alias_sets_it_too_or_the_value_is_false(tmp_path):
    files = {
        "proj/settings/base.py": "DATABASES = {'default': {'NAME': 'x', 'ATOMIC_REQUESTS': True}}\n",
        "proj/settings/prod.py": "ATOMIC_REQUESTS = True\n",
    }
    diags = lint(tmp_path, files, select=["BL304"])
    assert [(d.path, d.severity) for d in diags] == [("proj/settings/prod.py", "low")]
    assert "dead but harmless" in diags[0].why
    assert found(tmp_path / "f", {"proj/settings.py": "ATOMIC_REQUESTS = False\n"}) == [("proj/settings.py", 1, "low")]


def test_shown_by_default_only_when_high(tmp_path):
    """The default threshold (medium) shows the high finding and hides the low one."""
    from backendlint.engine.diagnostics import split_by_severity

    files = {"proj/settings.py": "ATOMIC_REQUESTS = True\n", "proj/settings_off.py": "ATOMIC_REQUESTS = 0\n"}
    shown, hidden = split_by_severity(lint(tmp_path, files, select=["BL304"]), "medium")
    assert [d.path for d in shown] == ["proj/settings.py"] and [d.path for d in hidden] == ["proj/settings_off.py"]
