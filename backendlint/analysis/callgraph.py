"""The project call graph seen from transactions: which project functions write outside
a transaction of their own (themselves, or through the project functions they call), and
which functions are covered by their callers (every call site inside a transaction).

Built from the effect summaries (``index.effects``, fact ``effect_summaries``) and
the project's wrappers of atomic (``index.transactions``). Returns data: ``Writer``
records keyed by qualified function name; BL301 words them (``call_note``) and BL302
can ask the same graph which calls run inside a transaction.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, List, NamedTuple, Optional, Sequence, Tuple

from backendlint.index.orm_project import OrmProjectFacts
from backendlint.index.transactions import TransactionFacts
from backendlint.index import effects
from backendlint.index.effects import DELIBERATE, Edge, Write
from backendlint.knowledge import transactions
from backendlint.knowledge.creates import is_log_model
from backendlint.knowledge.paths import is_migration_path, is_test_path
from backendlint.knowledge.transactions import ADMIN_ATOMIC_METHODS

# Fake-data generators, seeding and one-off migration scripts (learned on the corpus:
# saleor's populatedb and random_data, label-studio's old_ls_migration).
TOOLING_WORDS = ("fake", "random_data", "populate", "sample_data", "demo_data", "migrat")
_GETTER_PREFIXES = ("get_", "_get_", "aget_")
_EVENT_SUFFIXES = ("_event", "_events")  # saleor's order_captured_event(): an audit row
# How deep calls are followed from a unit: the function it calls, and the functions that
# one calls (handler -> service -> repository). Deeper chains, in the projects we checked,
# were bookkeeping of long-running work (a VCS push recording its state) more often than
# a unit of work the author would see as one.
MAX_DEPTH_FOLLOWED = 2
_NOTICE_SUFFIXES = ("mail", "mails", "email", "emails", "notification", "notifications")
_MODEL_BASES_OUTSIDE = ("pydantic", "sqlmodel", "sqlalchemy", "marshmallow", "msgspec")
_PAGE_BASES = ("wagtail.models.Page", "wagtail.core.models.Page")


def last(name: str) -> str:
    return name.rsplit(".", 1)[-1]


class Writer(NamedTuple):
    """A project function that writes outside a transaction of its own."""

    chain: Tuple[str, ...]  # the callee keys from this function down to the one that writes
    what: str  # the model written (or the write's text)
    relpath: str  # where it writes
    line: int


class TxNames:
    """Does a qualified name open a transaction (atomic, a project wrapper, an option)?"""

    def __init__(self, facts, extra: Sequence[str]):
        names = set(TransactionFacts.of(facts).wrappers) | {n.strip() for n in extra if n and n.strip()}
        self.names = names
        self.by_last: Dict[str, List[str]] = {}
        for name in names:
            self.by_last.setdefault(last(name), []).append(name)
        self.methods = {last(n) for n in names if "." in n and last(n.rsplit(".", 1)[0])[:1].isupper()}

    def opens(self, name: str) -> bool:
        if not name:
            return False
        if name in transactions.ATOMIC or name in self.names or last(name) == "atomic":
            return True
        if name.startswith(("self.", "cls.")) and name.count(".") == 1:
            return name.split(".", 1)[1] in self.methods
        tail = last(name)
        return any(
            w == name or w.endswith("." + name) or name.endswith("." + w) or "." not in w
            for w in self.by_last.get(tail, ())
        )


def _deliberate_or_wrapped(flags: int, wraps: Sequence[str], tx: TxNames) -> bool:
    """A write/call of the summaries that BL301 leaves to its function."""
    return bool(flags & DELIBERATE) or any(tx.opens(w) for w in wraps)


def _is_bookkeeping(model: str) -> bool:
    """Rows a helper writes on the side: audit/log entries, cache rows, an outbox of
    mails or notifications. Helpers that write them (``log_action()``, ``mail()``,
    ``notify()``) are called next to nearly every write; counting them would bury the
    real findings."""
    low = model.lower()
    return is_log_model(model) or low.endswith(_NOTICE_SUFFIXES) or "outbox" in low


def build_callee_writers(facts, extra: Sequence[str]) -> Dict[str, Writer]:
    """Project functions that write outside a transaction of their own, reached through calls.

    A function counts when it writes outside a transaction itself (not in a batching
    loop, per-item error isolation, a transaction of its own: a ``with atomic()``, a
    project wrapper, an atomic decorator; not an audit, cache or outbox row) or calls,
    outside a transaction, a function that does itself; grown breadth first from the
    writers through their callers, so a cycle ends where it started and a unit sees
    writes at most MAX_DEPTH_FOLLOWED calls deep. Only functions that some project code
    calls are kept. Tests, migrations, lazy getters (``get_*``), audit events
    (``*_event``) and files of a SQLAlchemy project are left out (Django writes only).
    """
    summaries = facts.get(effects.FACT_KIND) or {}
    writes = summaries.get("writes") or {}
    if not writes:
        return {}
    django_project = OrmProjectFacts.of(facts).django
    flavour = summaries.get("flavour") or {}
    where = summaries.get("where") or {}
    tx = TxNames(facts, extra)

    def usable(name: str) -> bool:
        tail = last(name)
        if tail.startswith(_GETTER_PREFIXES) or tail.endswith(_EVENT_SUFFIXES):
            return False  # a getter that creates on first use (a cache), an audit event
        relpath = where.get(name, ("", 0))[0]
        if any(w in tail.lower() or w in relpath.lower() for w in TOOLING_WORDS):
            return False  # fake-data generators, one-off migration scripts
        kind = flavour.get(relpath, "")
        if kind == "sa" or (kind != "dj" and not django_project):
            return False
        return not is_test_path(relpath) and not is_migration_path(relpath)

    whole = set(summaries.get("tx") or ())
    for name, decorators in (summaries.get("decorators") or {}).items():
        if any(tx.opens(d) for d in decorators):
            whole.add(name)
    for name in writes:
        if last(name) in ADMIN_ATOMIC_METHODS and "Admin" in name.rsplit(".", 2)[-2:][0]:
            whole.add(name)  # the admin calls it inside its own transaction
    found: Dict[str, Writer] = {}
    for name, entries in writes.items():
        if name in whole or not usable(name):
            continue
        for entry in entries:
            w = Write.of(entry)
            if w.in_tx or _deliberate_or_wrapped(w.flags, w.wrappers or (), tx):
                continue
            if w.model and _is_bookkeeping(w.model):
                continue
            found[name] = Writer((), w.model or w.label, where[name][0], w.line)
            break
    callers: Dict[str, List[str]] = {}
    called = set()
    for name, out in (summaries.get("edges") or {}).items():
        for entry in out:
            edge = Edge.of(entry)
            called.add(edge.target)
            if name in whole or edge.in_tx or _deliberate_or_wrapped(edge.flags, edge.wrappers or (), tx):
                continue
            callers.setdefault(edge.target, []).append(name)
    work = list(found)
    for _ in range(MAX_DEPTH_FOLLOWED - 1):  # breadth first: the shortest chain to a write
        nxt = []
        for target in work:
            writer = found[target]
            for caller in callers.get(target, ()):
                if caller in found or not usable(caller):
                    continue
                found[caller] = writer._replace(chain=(target,) + writer.chain)
                nxt.append(caller)
        work = nxt
    return {name: value for name, value in found.items() if name in called}


def build_writer_names(facts, found: Dict[str, Writer]) -> FrozenSet[str]:
    """The identifiers a call of a writing project function can be spelled with: the
    function's name, and names a package re-exports it under."""
    if not found:
        return frozenset()
    names = {last(name) for name in found}
    summaries = facts.get(effects.FACT_KIND) or {}
    for _ in range(4):
        added = {
            alias
            for table in (summaries.get("aliases") or {}).values()
            for alias, target in table.items()
            if alias not in names and last(target) in names
        }
        if not added:
            break
        names |= added
    return frozenset(names)


def build_django_model_classes(facts) -> FrozenSet[str]:
    """Project classes derived from a Django model (``models.Model``, a third-party model
    base such as ``MPTTModel``, or a project class that is one), from the effect
    summaries' class index."""
    classes: Dict[str, List[str]] = (facts.get(effects.FACT_KIND) or {}).get("classes") or {}
    found: set = set()
    pending = dict(classes)
    for _ in range(16):
        grown = False
        for key, bases in list(pending.items()):
            for base in bases:
                if base in found or (
                    base not in classes
                    and (last(base).endswith("Model") or base in _PAGE_BASES)
                    and not base.startswith(_MODEL_BASES_OUTSIDE)
                ):
                    found.add(key)
                    del pending[key]
                    grown = True
                    break
        if not grown:
            break
    return frozenset(found)


def covered_by_callers(facts, memo: Optional[Dict[str, Any]], key: str) -> bool:
    """Every call site of the project function ``key`` is inside a transaction (or in a
    caller that is itself covered): the callers hold it."""
    summaries = facts.get(effects.FACT_KIND) if facts is not None else None
    if not summaries or not summaries.get("covered"):
        return False
    covered = memo.get("effects.covered") if memo is not None else None
    if covered is None:
        covered = frozenset(summaries["covered"])
        if memo is not None:
            memo["effects.covered"] = covered
    return key in covered
