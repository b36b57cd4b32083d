"""The engine: discovery, configuration, parsing, traversal, suppression, cache, reporting.

The engine knows nothing about web frameworks; it runs whatever rules are registered in
``backendlint.rules`` and hands them the project facts that ``backendlint.knowledge``
collectors produce.
"""
