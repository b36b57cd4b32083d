"""Positions of findings: where the nodes that rules report stand in the source.

Computed only for reported nodes, by generating as small a piece of the tree as is safe
(see ``positions``)."""

from __future__ import annotations

import ast
import re
from typing import Dict, List, Optional, Tuple

from backendlint.engine.facts import CLAUSES, STATEMENT_FIELDS


def positions(module, nodes, source: str = "", memo: Optional[dict] = None) -> Dict[int, Tuple[int, int, int, int]]:
    """1-based (line, col, end_line, end_col) of the given nodes, by id.

    ``nodes`` holds (node, top, scope): the top-level statement and the enclosing
    def/class statements known when the node was reported (None and () when unknown).

    Positions come from LibCST's own position-recording code generation
    (``PositionProvidingCodegenState``, what ``PositionProvider`` runs), called directly
    on as small a piece of the tree as is safe: the ``MetadataWrapper`` route adds a
    second full visit of the tree, and generating a whole 2,000-line class to locate one
    call costs more than parsing it. The piece is the innermost ``def``/``class``
    around the node, else the top-level ``def``/``class``, when it can be placed in the
    source unambiguously: its generated code matches the source text at exactly one
    ``def NAME``/``class NAME`` line (``_place_by_text``), or, for a nested one, the
    standard library's ``ast`` places it; else the whole module. Generated tables are
    kept in ``memo`` for the rest of the file.
    """
    import libcst as cst

    wanted = {id(n): n for n, _, _ in nodes}
    tops = {id(n): top for n, top, _ in nodes if top is not None}
    scopes = {id(n): scope for n, _, scope in nodes if scope}
    memo = {} if memo is None else memo
    out: Dict[int, Tuple[int, int, int, int]] = {}

    try:
        # "\r" alone is a newline too; counted once per file (this runs per finding).
        plain = memo.get("plain_newlines")
        if plain is None:
            plain = memo["plain_newlines"] = bool(source) and source.count("\r") == source.count("\r\n")
        if plain:
            stmts = memo.get("top_statements")  # once per file: this runs per finding
            if stmts is None:
                stmts = memo["top_statements"] = {id(stmt): stmt for stmt in module.body}
            groups: Dict[int, list] = {}
            unknown = set()
            for key in wanted:
                top = tops.get(key)
                if top is None and key in scopes:
                    top = scopes[key][0]
                if top is not None and id(top) in stmts:
                    groups.setdefault(id(top), []).append(key)
                else:
                    unknown.add(key)
            if unknown:
                where = _scope_index(module, memo)
                for key in unknown:
                    found = where.get(key)
                    if found is not None:
                        groups.setdefault(id(found[0]), []).append(key)
            for stmt_id, inside in groups.items():
                stmt = stmts[stmt_id]
                rest = _locate_in_units(module, stmt, inside, wanted, scopes, source, memo, out)
                if not rest:
                    continue
                if not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                    continue  # left for the whole-module fallback
                table, _ = _table(stmt, module, memo)
                anchor = table.get(stmt.name)
                if anchor is None:
                    continue
                place = _place_by_text(stmt, module, anchor.start.line, source, memo)
                if place is None or place[1] != 0:
                    continue
                _record(out, table, wanted, rest, place[0] - anchor.start.line)
        missing = [key for key in wanted if key not in out]
        if missing:
            table, _ = _table(module, module, memo)
            _record(out, table, wanted, missing, 0)
    except (RecursionError, KeyError):
        # Very long expressions exhaust the Python stack in code generation; LibCST's
        # position recorder then fails in its ``finally`` blocks with a KeyError. The
        # nodes not located are reported at line 1 rather than losing the file.
        pass
    return out


def _record(out, table, wanted, keys, offset: int, indent: int = 0, indented=frozenset()) -> None:
    """Positions of ``keys`` from a generated table: lines shifted by ``offset``; columns
    shifted by ``indent`` on lines that the generator began with indentation (lines that
    continue a bracket or a string are copied verbatim, so their columns are right)."""
    for key in keys:
        rng = table.get(wanted[key])
        if rng is not None:
            start, end = rng.start, rng.end
            out[key] = (
                start.line + offset,
                start.column + 1 + (indent if start.line in indented else 0),
                end.line + offset,
                end.column + 1 + (indent if end.line in indented else 0),
            )


def _locate_in_units(module, stmt, keys, wanted, scopes, source, memo, out) -> list:
    """Locate the nodes that sit inside a def/class nested in ``stmt`` by generating that
    def/class alone; returns the keys left for the top-level statement."""
    import libcst as cst

    if not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        return keys
    if any(key not in scopes for key in keys):
        where = _scope_index(module, memo)
        scopes = {**{key: where[key][1] for key in keys if key in where}, **scopes}
    rest = []
    units: Dict[int, tuple] = {}
    by_unit: Dict[int, list] = {}
    for key in keys:
        scope = scopes.get(key, ())
        if len(scope) < 2 or scope[0] is not stmt:
            rest.append(key)
            continue
        units[id(scope[-1])] = scope
        by_unit.setdefault(id(scope[-1]), []).append(key)
    if not by_unit:
        return rest
    for unit_id, inside in by_unit.items():
        scope = units[unit_id]
        unit = scope[-1]
        table, indented = _table(unit, module, memo)
        anchor = table.get(unit.name)
        if anchor is None or anchor.start.line not in indented:
            rest.extend(inside)
            continue
        place = _place_by_text(unit, module, anchor.start.line, source, memo)
        if place is None:
            index = _def_index(source, memo)
            place = index.get(tuple(n.name.value for n in scope)) if index is not None else None
        if place is None:
            rest.extend(inside)
            continue
        line, indent = place
        _record(out, table, wanted, inside, line - anchor.start.line, indent, indented)
        rest.extend(key for key in inside if key not in out)
    return rest


def _scope_index(module, memo: dict) -> Dict[int, tuple]:
    """{id(node): (top-level statement, enclosing def/class statements)} for every node
    of the module but the module itself, from one walk kept for the rest of the file
    (for nodes that rules name after the traversal, such as the lines in a message)."""
    if "scope_index" in memo:
        return memo["scope_index"]
    import libcst as cst

    from backendlint.engine.traversal import children_of

    index: Dict[int, tuple] = {}
    for stmt in module.body:
        work = [(stmt, ())]
        while work:
            node, scope = work.pop()
            index[id(node)] = (stmt, scope)
            if type(node) is cst.FunctionDef or type(node) is cst.ClassDef:
                scope = scope + (node,)
            for child in children_of(node):
                work.append((child, scope))
    memo["scope_index"] = index
    return index


def _place_by_text(unit, module, anchor_line: int, source: str, memo: dict) -> Optional[Tuple[int, int]]:
    """(line, indent) of ``unit``'s ``def NAME``/``class NAME`` line: the one place in
    the source where the unit's generated code is the source text, line for line (lines
    the generator indented carry the def line's indentation in front). None if there is
    not exactly one such place; then the standard library's parser decides (``_def_index``).

    Exactly one: a copy of the unit's text elsewhere (in a docstring) would match as
    well, and the unit's own place always matches (LibCST generates what it parsed)
    unless its name is not on the keyword's line, and then no copy of it matches either.
    """
    import libcst as cst

    heads, lines = _def_lines(source, memo)
    key = ("def" if isinstance(unit, cst.FunctionDef) else "class", unit.name.value)
    code, indented = _code_lines(unit, module, memo)
    found = None
    for line, outer in heads.get(key, ()):
        offset = line - anchor_line
        if offset < 0 or offset + len(code) > len(lines):
            continue
        if all(
            lines[offset + number - 1] == (outer + text if number in indented else text)
            for number, text in enumerate(code, 1)
        ):
            if found is not None:
                return None
            found = (line, len(outer))
    return found


_DEF_WORD = re.compile(r"(def|class)[ \t]+(\w+)")
_DEF_HEAD = re.compile(r"([ \t]*)(?:async[ \t]+)?")


def _def_lines(source: str, memo: dict) -> Tuple[Dict[Tuple[str, str], List[Tuple[int, str]]], List[str]]:
    """({("def"|"class", name): [(line, indentation)]} of every line of the source that
    reads like a def/class header (``[async] def NAME``/``class NAME`` after nothing but
    indentation), strings and comments included, the source's lines); once per file."""
    found = memo.get("def_lines")
    if found is not None:
        return found
    heads: Dict[Tuple[str, str], List[Tuple[int, str]]] = {}
    lines = source.split("\n")  # the newlines the tokenizer counts
    starts = [0]
    for text in lines[:-1]:
        starts.append(starts[-1] + len(text) + 1)
    line = 1
    for match in _DEF_WORD.finditer(source):
        begin = match.start()
        while line < len(starts) and starts[line] <= begin:
            line += 1
        head = _DEF_HEAD.fullmatch(source, starts[line - 1], begin)
        if head is None or (match.group(1) == "class" and head.end(1) != begin):
            continue
        heads.setdefault((match.group(1), match.group(2)), []).append((line, head.group(1)))
    found = memo["def_lines"] = (heads, lines)
    return found


def _def_index(source: str, memo: dict):
    """{(name, name, ...): (line, indent)} of each def/class whose path of enclosing
    names is unique in the file, from the standard library's parser (None if it fails)."""
    if "def_index" in memo:
        return memo["def_index"]
    index: Optional[Dict[tuple, Tuple[int, int]]] = {}
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        index = None
    else:
        lines = source.splitlines()
        seen: Dict[tuple, int] = {}
        work: list = [(tree, ())]
        while work:
            node, path = work.pop()
            for child in _child_statements(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    here = path + (child.name,)
                    seen[here] = seen.get(here, 0) + 1
                    text = lines[child.lineno - 1] if child.lineno <= len(lines) else ""
                    # The name must be on the keyword's line, which starts at col_offset
                    # and holds nothing else before it (ast columns count UTF-8 bytes).
                    head = text.encode("utf-8")[child.col_offset:].decode("utf-8", "replace")
                    if text[: len(text) - len(text.lstrip())] == text[: child.col_offset] and re.match(
                        r"(?:async[ \t]+)?(?:def|class)[ \t]+" + re.escape(child.name) + r"\b", head
                    ):
                        index[here] = (child.lineno, child.col_offset)
                    else:
                        seen[here] += 1
                    work.append((child, here))
                else:
                    work.append((child, path))
        for path, count in seen.items():
            if count > 1:
                index.pop(path, None)
    memo["def_index"] = index
    return index


def _child_statements(node):
    """The statements directly inside a statement (defs and classes are statements, so
    no expression needs visiting to find them all)."""
    for name in STATEMENT_FIELDS:
        for item in getattr(node, name, ()) or ():
            if isinstance(item, CLAUSES):
                yield from item.body
            elif isinstance(item, ast.stmt):
                yield item


def _table(node, module, memo: dict):
    """(positions by node, lines the generator began with indentation) for ``node``."""
    return _generated(node, module, memo)[1:3]


def _code_lines(node, module, memo: dict):
    """(the lines of ``node``'s generated code, lines the generator began with
    indentation)."""
    _, _, indented, tokens = _generated(node, module, memo)
    lines = "".join(tokens).split("\n")
    if lines[-1] == "":
        lines.pop()  # after the last newline
    return lines, indented


def _generated(node, module, memo: dict):
    """(node, positions by node, indented lines, code tokens), generated once."""
    tables = memo.setdefault("position_tables", {})
    key = id(node)
    if key not in tables:
        tables[key] = (node, *_codegen_positions(node, module))
    return tables[key]


def _codegen_positions(node, module):
    from libcst.metadata.position_provider import PositionProvider, PositionProvidingCodegenState

    class State(PositionProvidingCodegenState):
        __slots__ = ("indented",)

        def add_indent_tokens(self) -> None:
            self.indented.add(self.line)
            super().add_indent_tokens()

    provider = PositionProvider()
    state = State(default_indent=module.default_indent, default_newline=module.default_newline, provider=provider)
    state.indented = set()
    node._codegen(state)
    return provider._computed, state.indented, state.tokens


