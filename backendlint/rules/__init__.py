"""The rules: one module per rule, each defining one ``Rule`` subclass.

A new rule is a module here plus its page in ``rules/`` at the top of the repository;
the registry finds it by walking this package.
"""
