"""The project index: facts gathered from every file of the project with the standard
library's ``ast`` (Django and SQLAlchemy models, effect summaries of project functions,
transaction wrappers, Celery task classes, middleware, settings).

Each module defines its ``FactCollector`` (registered with the engine) and a reader for
what it merged, so that nothing outside ``index/`` reads a fact's parts by position.
``backendlint.plugins.load`` imports every module, so that their collectors register.
"""
