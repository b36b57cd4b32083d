"""Framework knowledge shared by the rules.

What is a POST handler, a database write, a query, a transaction, a retry policy, per
framework. Knowledge imports nothing from the rules. Modules that still define project
fact collectors register them when ``backendlint.plugins.load`` imports them.
"""
