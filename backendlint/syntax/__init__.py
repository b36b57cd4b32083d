"""LibCST helpers with no framework words: the second floor.

May import ``backendlint.engine`` and LibCST, nothing above. Before writing a helper in
a rule or in knowledge/, look here; there is one of each:

- ``calls``: keyword argument (``kwarg``, ``kwarg_arg``), positional argument
  (``positional``, ``positional_args``), ``CallArgs`` (what a call passes);
- ``names``: ``dotted_name``, ``last_name``, ``names_in``, ``target_names``, parameters;
- ``literals``: ``string_literal`` (plain, concatenated, f-string text), ``is_none``,
  ``is_constant``, ``is_falsy_constant``, ``is_truthy_constant``;
- ``walk``: ``walk`` (whole subtree), ``walk_local`` (not into nested scopes),
  ``statements`` (a block's statements, simple lines split);
- ``flow``: the one statement-flow walker (``Flow``) and ``outcomes`` (how a block can end);
- ``scopes``: the per-file name resolver for local bindings (``Scopes``).
"""
