"""The query-flow analysis behind BL401 (n-plus-one) and BL402 (query-in-loop).

Split by concern, bottom-up:

- ``ir``: LibCST -> the expression/statement IR (shared with the model index's summaries);
- ``values``: the value lattice (``Val``, ``merge``, eager-loading sets);
- ``loops``: what the analysis returns (``Loop``, ``Access``, ``QueryEvent``) and how a
  loop is classified (a literal collection, batches);
- ``django`` / ``sqlalchemy``: the framework semantics the interpreter consults (mixins);
- ``interpreter``: the walk of one function (``Interpreter``);
- ``file``: one file's analysis, shared by both rules (``LoopOwners``, ``analysis``).

It returns data, never sentences: each rule decides what is reported and words it.
"""

from backendlint.analysis.queries.file import (
    COMMIT,
    MAIL,
    OUTBOUND,
    RENDER,
    FileAnalysis,
    LoopOwners,
    analysis,
    loop_context,
    loop_owner,
    per_item_work,
)
from backendlint.analysis.queries.loops import Access, Loop, LoopContext, QueryEvent

__all__ = ["COMMIT", "MAIL", "OUTBOUND", "RENDER", "Access", "FileAnalysis", "Loop", "LoopContext", "LoopOwners",
           "QueryEvent", "analysis", "loop_context", "loop_owner", "per_item_work"]
