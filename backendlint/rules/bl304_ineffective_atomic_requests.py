"""BL304 ineffective-atomic-requests: ``ATOMIC_REQUESTS`` outside ``DATABASES``.

Django reads ``ATOMIC_REQUESTS`` only per database (``DATABASES[alias]["ATOMIC_REQUESTS"]``).
A module-level ``ATOMIC_REQUESTS = True`` in a settings module, or a class attribute of a
class-based settings object, is never read: the team believes its views run in a
transaction, and they do not.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from backendlint.engine.rule import Rule
from backendlint.index.settings_modules import FACTS as MODULE_FACTS, settings_module_names
from backendlint.knowledge.contexts import SETTINGS
from backendlint.index.settings import DjangoSettingsFacts
from backendlint.knowledge.settings import FACTS as SETTINGS_FACTS, KEY, is_settings_module
from backendlint.syntax.literals import is_falsy_constant

# One line to write instead, in the form Django reads.
_FIX = 'DATABASES["default"]["ATOMIC_REQUESTS"] = True'


class IneffectiveAtomicRequests(Rule):
    code = "BL304"
    name = "ineffective-atomic-requests"
    summary = "ATOMIC_REQUESTS set outside DATABASES, where Django never reads it"
    requires = (KEY,)
    facts = SETTINGS_FACTS + MODULE_FACTS

    def __init__(self, ctx, options=None):
        super().__init__(ctx, options)
        names = settings_module_names(ctx.facts)
        # The module's name, and its dotted path from the project root (the two differ in
        # a directory without __init__.py, which Django imports by its path).
        by_path = ctx.relpath[:-3].replace("/", ".") if ctx.relpath.endswith(".py") else ""
        self.active = is_settings_module(ctx.relpath) or any(
            candidate in names for module in (ctx.module_name, by_path) if module
            for candidate in [module] + _packages(module)
        )

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check(node, target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._check(node, node.target, node.value)

    def _check(self, node: cst.CSTNode, target: cst.BaseExpression, value: Optional[cst.BaseExpression]) -> None:
        if not self.active or not (isinstance(target, cst.Name) and target.value == KEY) or value is None:
            return
        owner = self._owner()
        if owner is False:
            return  # inside a function: a local variable, not a setting
        place = f"as a class attribute of {owner.name.value}" if owner is not None else "at module level"
        message = (
            f"{KEY} is set {place}, where Django never reads it: Django reads it per database, "
            f'from DATABASES[alias]["{KEY}"], so views do not run in a transaction; write {_FIX} '
            f"(for each database alias that serves requests) and remove this line"
        )
        aliases = DjangoSettingsFacts.of(self.ctx.facts).atomic_requests_aliases()
        if is_falsy_constant(value):
            severity, why = "low", f"set to {_text(value)}, which is Django's default anyway"
        elif aliases:
            severity, why = "low", "DATABASES sets it as well: this copy is dead but harmless"
        else:
            severity, why = "high", "no database alias sets ATOMIC_REQUESTS: views are not atomic"
        self.report(node, message, severity=severity, context=SETTINGS, why=f"settings; {why}")

    def _owner(self):
        """The class whose attribute this is (None at module level; False in a function)."""
        owner = None
        for node in self.ctx.stack:
            if isinstance(node, (cst.FunctionDef, cst.Lambda)):
                return False
            if isinstance(node, cst.ClassDef):
                owner = node
        return owner


def _packages(module: str):
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _text(value: cst.BaseExpression) -> str:
    return cst.Module([]).code_for_node(value)
