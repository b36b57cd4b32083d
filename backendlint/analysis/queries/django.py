"""Django semantics of the query interpreter.

``DjangoSemantics`` is a mixin of ``interpreter.Interpreter``: what ``Model.objects``
and custom managers give (``model_attr``), what a relation read on a row loads
(``dj_rel_read``), QuerySet methods (lazy, one row, a value, a write; custom manager /
QuerySet methods through the index summaries), related managers (``rel_method``),
class-based views (``self.get_queryset()``, ``self.queryset``, ``get_object``) and
Django's shortcuts and helpers (``django_call``). Module functions: what
``prefetch_related`` loads (``prefetches``) and where a ``__`` path leads.
"""

from __future__ import annotations

from typing import Any, FrozenSet, List, Optional, Tuple

from backendlint.analysis.queries.values import EMPTY, UNKNOWN, Val, const_text, is_loaded, sub_eager, union, unknown
from backendlint.index.models import IR_NAME, ModelIndex
from backendlint.knowledge.models import FK, GFK, O2O, RFK, SINGLE
from backendlint.knowledge.queries import DJ_LAZY, DJ_ONE, DJ_VAL, DJ_WRITE


class DjangoSemantics:
    """Mixin: Django managers, querysets, related managers, views and shortcuts."""

    def model_attr(self, model: Val, a: str, e: Any) -> Val:
        if model.fw == "dj":
            mgrs = self.facts.managers(model.model)
            if a in ("objects", "_default_manager", "_base_manager") or a in mgrs:
                qs = Val("qs", fw="dj", model=model.model, desc=f"{model.desc}.{a}", node=e[1], taint=model.taint)
                mk = mgrs.get(a) if a in mgrs else mgrs.get("objects", "")
                if mk:
                    found = self.facts.method(mk, "get_queryset")
                    if found is not None:
                        got = self.summary(found[0], qs, found[1])
                        if got.k == "qs":
                            qs = qs.but(eager=got.eager, allsel=got.allsel, ta=got.ta)
                        else:
                            qs = qs.but(eager=frozenset({"*"}))
                return qs
            return unknown(model.taint)
        if a == "query":
            return Val("qs", fw="sa", model=model.model, desc=f"{model.desc}.query", node=e[1], taint=model.taint)
        if self.facts.sa_relationship(model.model, a) is not None:
            return Val("attr", fw="sa", model=model.model, extra=a)
        return Val("col", fw="sa", model=model.model, taint=model.taint)


    def dj_rel_read(self, row: Val, a: str, node: Any, pk: bool = False) -> Val:
        """``row.a`` on a Django model row: a relation read (an Access when it is not
        loaded), a ``to_attr`` list, or something else."""
        info = self.facts.django_relation(row.model, a)
        if info is None:
            if row.ta and a in row.ta:
                model, eager, backref = row.ta[a]
                return Val("rows", fw="dj", model=model, eager=eager, taint=row.taint, desc=f"{row.desc}.{a}",
                           backref=backref,
                           trail=row.trail + ((row.model, a, False),), root=self.root_of(row))
            return unknown(row.taint)
        kind, target, extra = info.kind, info.target, info.field
        loaded = is_loaded(row.eager, a) or a == row.backref or (row.allsel and kind in (FK, O2O))
        root = self.root_of(row)
        trail = row.trail + ((row.model, a, kind in SINGLE and kind != GFK),)
        if kind in SINGLE:
            if not loaded:
                self.access(row, a, kind, node, pk=pk)
            return Val("row", fw="dj", model=target, taint=row.taint, loop=row.loop,
                       eager=sub_eager(row.eager, a) if loaded else (frozenset({"*"}) if row.loop is not None else EMPTY),
                       allsel=row.allsel, trail=trail, root=root, desc=f"{row.desc}.{a}")
        backref = extra if kind == RFK else None
        return Val("rel", fw="dj", model=target, taint=row.taint, loop=row.loop, backref=backref,
                   eager=sub_eager(row.eager, a) if loaded else EMPTY, trail=trail, root=root,
                   desc=f"{row.desc}.{a}", extra=(row, a, kind, loaded), node=node)

    def dj_method(self, recv: Val, meth: str, argv, kwv, taint, node, desc) -> Val:
        if meth in DJ_LAZY:
            if meth == "select_related":
                if not argv:
                    return recv.but(allsel=True, taint=taint, desc=desc)
                eager = set(recv.eager)
                for v in argv:
                    s = const_text(v)
                    if s is not None:
                        eager.add(s)
                    elif v.k == "const":
                        continue  # select_related(None) clears; keep it simple
                    else:
                        eager.add("*")
                return recv.but(eager=frozenset(eager), taint=taint, desc=desc)
            if meth == "prefetch_related":
                eager, ta = prefetches(argv, recv.eager, recv.ta, self.facts, recv.model)
                return recv.but(eager=eager, ta=ta, taint=taint, desc=desc)
            if meth == "select_for_update":
                # rows locked one at a time, usually each in its own transaction: deliberate
                return recv.but(taint=taint, desc=desc, extra=recv.extra or "lock")
            if meth == "fetch_mode":
                return recv.but(eager=frozenset({"*"}), taint=taint, desc=desc)
            if meth in ("values", "values_list"):
                return recv.but(k="vals", taint=taint, desc=desc)
            return recv.but(taint=taint, desc=desc)
        if meth in DJ_ONE:
            if not recv.extra:
                self.query(node, taint, desc, "dj")
            if recv.k == "qs":
                return self.instance(recv, taint).but(desc=desc)
            return unknown(taint)
        if meth in DJ_VAL:
            if not recv.extra:
                self.query(node, taint, desc, "dj")
            return unknown(taint)
        if meth in DJ_WRITE:
            return unknown(taint)
        # a custom manager / QuerySet method
        for mk in self._manager_classes(recv.model):
            found = self.facts.method(mk, meth)
            if found is not None:
                got = self.summary(found[0], recv, found[1])
                if got.k in ("qs", "vals", "rows", "row"):
                    return got.but(taint=got.taint | taint, desc=desc if got.k != "row" else got.desc)
                return unknown(taint)
        if meth == "get_queryset":
            return recv.but(taint=taint)
        if meth in self.facts.queryset_methods and recv.k == "qs":
            return recv.but(eager=frozenset({"*"}), taint=taint, desc=desc)
        return unknown(taint)

    def _manager_classes(self, model: Optional[str]) -> List[str]:
        out = []
        for mk in self.facts.managers(model).values():
            if mk and mk not in out:
                out.append(mk)
        return out

    def rel_method(self, recv: Val, meth: str, argv, kwv, taint, node, desc) -> Val:
        owner, attr, kind, loaded = recv.extra
        reading = meth in DJ_LAZY or meth in DJ_ONE or meth in DJ_VAL
        if not reading:
            return unknown(taint)
        if not loaded:
            self.access(owner, attr, kind, recv.node, meth=meth)
        if owner.loop is None and not owner.opaque and (meth in DJ_ONE or meth in DJ_VAL):
            self.query(node, taint - owner.taint, desc, "dj")
        elif owner.loop is None and owner.opaque and (meth in DJ_ONE or meth in DJ_VAL) and meth not in ("count", "exists"):
            self.query(node, taint - owner.taint, desc, "dj")
        base = Val("qs", fw="dj", model=recv.model, backref=recv.backref, desc=desc, node=recv.node, taint=taint,
                   trail=recv.trail if loaded and owner.loop is not None and meth == "all" else (),
                   root=recv.root if loaded and owner.loop is not None and meth == "all" else None,
                   extra="viarel" if owner.loop is not None else None, size="relation", of=(owner.model, attr))
        if meth == "all" and loaded:
            base = base.but(eager=recv.eager)
        elif owner.opaque and meth == "all":
            base = base.but(eager=frozenset({"*"}))
        if meth in DJ_LAZY:
            if meth == "all":
                return base
            return self.dj_method(base, meth, argv, kwv, taint, None, desc)
        if meth in DJ_ONE:
            return self.instance(base, taint)
        return unknown(taint)

    def self_method(self, recv: Val, meth: str, argv, taint, node, desc) -> Val:
        ck = recv.model
        if meth in ("filter_queryset",) and argv:
            return argv[0]
        if meth == "paginate_queryset" and argv:
            return self.as_rows(argv[0])
        found = self.facts.method(ck, meth) if ck else None
        if found is not None:
            got = self.summary(found[0], recv, found[1])
            return got.but(taint=got.taint | taint, desc=f"self.{meth}()", node=node)
        if meth == "get_queryset":
            return self.default_get_queryset(ck).but(desc="self.get_queryset()", node=node)
        if meth == "get_object":
            qs = self.facts.method(ck, "get_queryset") if ck else None
            base = self.summary(qs[0], recv, qs[1]) if qs else self.default_get_queryset(ck)
            if base.k == "qs":
                return self.instance(base, taint)
        return unknown(taint)

    def default_get_queryset(self, ck: Optional[str], skip_self: bool = False) -> Val:
        if not ck:
            return UNKNOWN
        found = self.facts.view_queryset(ck)
        if found is not None:
            return self.summary([found[0]], Val("self", model=found[1]), found[1])
        found = self.facts.view_model(ck)
        if found is not None and self.facts.is_django_model(found[0]):
            model = found[0]
            return Val("qs", fw="dj", model=model, desc=f"{self.facts.model_name('dj', model)}.objects")
        return UNKNOWN

    def django_call(self, q: str, last: str, head: str, argv, kwv, at, e: Any, desc: str, node: Any) -> Val:
        """A call of another known name: Django's ``Prefetch``, shortcuts, ``get_user_model`` ..."""
        if last == "Prefetch" and head == "django":
            lookup = const_text(argv[0]) if argv else None
            qs = argv[1] if len(argv) > 1 else None
            to_attr = None
            for k, v in kwv:
                if k == "lookup":
                    lookup = const_text(v)
                elif k == "queryset":
                    qs = v
                elif k == "to_attr":
                    to_attr = const_text(v)
            return Val("prefetch", extra=(lookup, qs, to_attr), taint=at)
        if last in ("get_object_or_404", "aget_object_or_404") and argv:
            first = argv[0]
            qs = first if first.k == "qs" else self.model_attr(first, "_default_manager", e) if first.k == "model" and first.fw == "dj" else None
            if qs is not None and qs.k == "qs":
                self.query(node, union(v.taint for v in argv[1:]) | union(v.taint for _, v in kwv if True), desc, "dj")
                return self.instance(qs, at)
            return unknown(at)
        if last == "get_list_or_404" and argv:
            first = argv[0]
            qs = first if first.k == "qs" else self.model_attr(first, "_default_manager", e) if first.k == "model" else None
            if qs is not None and qs.k == "qs":
                self.query(node, at, desc, "dj")
                return self.as_rows(qs)
            return unknown(at)
        if last == "get_user_model" and head == "django":
            key = self.facts.user_model or "django.contrib.auth.models.User"
            return Val("model", fw="dj", model=key, desc="User")
        if last == "get_model" and head == "django" and argv:
            name = const_text(argv[-1]) or ""
            name = name.rsplit(".", 1)[-1]
            m = self.facts.model("?" + name, self.fa.module) if name else None
            if m and m.framework == "dj":
                return Val("model", fw="dj", model=m.key, desc=name)
            if name:
                return Val("model", fw="dj", model="?" + name, desc=name)
            return unknown(at)
        if last == "Paginator" and head == "django" and argv:
            return Val("page", extra=argv[0], taint=at, desc=argv[0].desc, node=argv[0].node)
        if last == "prefetch_related_objects" and head == "django" and e[3]:
            target = e[3][0]
            if target[0] == IR_NAME and target[2] in self.env:
                cur = self.env[target[2]]
                if cur.k in ("rows", "qs", "row"):
                    eager, ta = prefetches(argv[1:], cur.eager, cur.ta, self.facts, cur.model)
                    self.env[target[2]] = cur.but(eager=eager, ta=ta)
            return unknown(at)
        if last == "get_object_or_404" or last == "get_list_or_404":
            return unknown(at)
        return unknown(at)


def prefetches(argv: List[Val], eager: FrozenSet, ta: Optional[dict], facts: ModelIndex, model: Optional[str]):
    out = set(eager)
    ta = dict(ta or {})
    for v in argv:
        s = const_text(v)
        if s is not None:
            out.add(s)
            continue
        if v.k == "const":
            continue  # prefetch_related(None)
        if v.k == "prefetch":
            lookup, qs, to_attr = v.extra
            if not lookup:
                out.add("*")
                continue
            nested = frozenset()
            if isinstance(qs, Val):
                if qs.k == "qs":
                    nested = qs.eager
                    if qs.allsel:
                        nested = nested | {"*"}
                else:
                    nested = frozenset({"*"})
            if to_attr:
                target, backref = path_target(facts, model, lookup)
                ta[to_attr] = (target, nested, backref)
                # the lookup's parents are prefetched too
                if "__" in lookup:
                    out.add(lookup.rsplit("__", 1)[0])
            else:
                out.add(lookup)
                for p in nested:
                    out.add(f"{lookup}__{p}")
            continue
        out.add("*")
    return frozenset(out), (ta or None)


def path_target(facts: ModelIndex, model: Optional[str], path: str) -> Tuple[Optional[str], Optional[str]]:
    """The model a ``__`` path leads to, and the FK back to the parent (reverse FKs)."""
    backref = None
    for seg in path.split("__"):
        info = facts.django_relation(model, seg)
        if info is None:
            return None, None
        model = info.target
        backref = info.field if info.kind == RFK else None
    return model, backref
