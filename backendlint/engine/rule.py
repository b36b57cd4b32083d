"""What a rule is, as the engine sees it.

A rule is one class with a code, a name, a one-line summary and ``visit_<Node>`` /
``leave_<Node>`` methods named after LibCST node classes. The engine instantiates the
enabled rules once per file and runs all of them in a single traversal; a rule only
pays for the node types it asks for.

Rules read framework knowledge from ``backendlint.knowledge``; they report through
``self.report(node, message)``. Positions are only computed for reported nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    import libcst as cst

    from backendlint.engine.context import FileContext


@dataclass(frozen=True)
class Option:
    """One option of a rule, set in ``[tool.backendlint.rules.<rule-name>]``."""

    name: str
    type: type  # bool, int, str, list (of str)
    default: Any
    help: str = ""

    def check(self, value: Any) -> Optional[str]:
        """None when ``value`` fits, else what was expected."""
        if self.type is list:
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return None
            return "a list of strings"
        if self.type is bool:
            return None if isinstance(value, bool) else "true or false"
        if self.type is int:
            return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
        if self.type is str:
            return None if isinstance(value, str) else "a string"
        return None


class Options(dict):
    """A rule's options with their defaults filled in, parsed once per run.

    Read them as attributes (``self.opts.transaction_wrappers`` for the option
    ``transaction-wrappers``) or by their configuration name. The engine builds one per
    enabled rule and hands the same object to ``prefilter_names``, ``prepare`` and every
    instance of the rule (``Rule.typed`` builds one from a plain dict, for tests)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name.replace("_", "-")]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def for_rule(cls, rule: type, given: Optional[Dict[str, Any]] = None) -> "Options":
        merged = {opt.name: list(opt.default) if isinstance(opt.default, list) else opt.default for opt in rule.options}
        merged.update(given or {})
        return cls(merged)


@dataclass
class PendingReport:
    node: "cst.CSTNode"
    message: str
    code: str
    name: str
    # The top-level statement being traversed when the report was made (None after the
    # traversal): positions are computed for that statement only where possible.
    top: Optional["cst.CSTNode"] = None
    # The def/class statements around the node when the report was made (outermost
    # first): positions are computed for the innermost one only where possible.
    scope: Tuple["cst.CSTNode", ...] = ()
    severity: str = "medium"
    context: str = ""
    why: str = ""


class Rule:
    code: str = ""
    name: str = ""
    summary: str = ""
    options: Tuple[Option, ...] = ()
    # Text prefilter: the rule can only fire in a file whose source contains at least one
    # of these substrings. Empty means "every file". A test checks that the prefilter
    # never changes results on the rule pages' examples.
    requires: Tuple[str, ...] = ()
    # A regular expression that also admits a file (for tokens that must be whole words,
    # such as the ``for`` keyword, which "format" and "platform" contain, or must have
    # the shape of code, such as a ``.save`` attribute rather than "save" in a sentence).
    requires_re: str = ""
    # Options whose (list of names) values also admit a file, e.g. extra guard names
    # (also with only ``requires_re``).
    requires_options: Tuple[str, ...] = ()
    # Project fact kinds this rule reads (part of the cache key of each file it runs on).
    facts: Tuple[str, ...] = ()

    def __init__(self, ctx: "FileContext", options: Optional[Dict[str, Any]] = None):
        self.ctx = ctx
        self.opts = self.typed(options)

    @classmethod
    def typed(cls, options: Optional[Dict[str, Any]] = None) -> Options:
        """The rule's ``Options`` (``options`` itself when the engine already built them)."""
        if isinstance(options, Options):
            return options
        return Options.for_rule(cls, options)

    @classmethod
    def prefilter_tokens(cls, options: Optional[Dict[str, Any]] = None) -> Tuple[str, ...]:
        """Substrings admitting a file; empty (and no ``requires_re``) means every file."""
        if not cls.requires and not cls.requires_re:
            return ()
        tokens = list(cls.requires)
        for name in cls.requires_options:
            value = (options or {}).get(name)
            if isinstance(value, list):
                tokens.extend(v for v in value if isinstance(v, str) and v)
            elif isinstance(value, str) and value:
                tokens.append(value)
        return tuple(tokens)

    @classmethod
    def prefilter_pattern(cls) -> Optional["re.Pattern[str]"]:
        """``requires_re`` compiled (None when the rule has none)."""
        if not cls.requires_re:
            return None
        compiled = cls.__dict__.get("_requires_compiled")
        if compiled is None or compiled.pattern != cls.requires_re:
            compiled = re.compile(cls.requires_re)
            cls._requires_compiled = compiled
        return compiled

    @classmethod
    def skips_path(cls, relpath: str) -> bool:
        """True for files the rule never reports in, known from the path alone (tests,
        migrations...). A file that every rule admitted by the prefilter skips is not
        parsed; the rule must still make no report there when it does run (the page and
        corpus tests run with the prefilter off too)."""
        return False

    @classmethod
    def prefilter_names(cls, facts: Any, options: Optional[Dict[str, Any]] = None) -> FrozenSet[str]:
        """Identifiers that also admit a file, derived from the project facts.

        For rules that follow calls into project functions (effect summaries): a file
        that names one of the project functions the facts say matter (for example those
        that write) may need the rule even though none of the text tokens appear.
        Computed once per run; the engine matches whole identifiers.
        """
        return frozenset()

    @classmethod
    def prepare(cls, facts: Any, options: Optional[Dict[str, Any]] = None) -> None:
        """Compute, once per run, what the rule derives from the project facts (kept in
        ``facts.memo``, as the rule's lookups do on first use).

        The engine calls this before it starts the worker processes, so that they share
        one copy instead of each building its own; building it in a worker would also
        touch, and so copy, the inherited pages of every fact it reads. Anything not
        prepared is still computed on first use.
        """

    def report(
        self,
        node: "cst.CSTNode",
        message: str,
        where: Optional[tuple] = None,
        *,
        severity: str = "medium",
        context: str = "",
        why: str = "",
    ) -> None:
        """Report ``node``. ``where`` is ``ctx.where()`` as it was when the rule met the
        node, for reports made later (in ``end_module``): it saves locating the node.
        ``severity`` (low / medium / high), ``context`` and ``why``: the finding's rank
        (catalog, "Severity"), shown apart from the message."""
        top, scope = where if where is not None else (self.ctx.top, self.ctx.scope())
        self.ctx.add_report(PendingReport(node, message, self.code, self.name, top, scope, severity, context, why))

    def end_module(self) -> None:
        """Called after the traversal; rules that analyse whole functions report here."""
