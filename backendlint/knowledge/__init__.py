"""Framework knowledge shared by the rules.

What is a POST handler, a database write, a query, a transaction, a retry policy, per
framework. Knowledge imports nothing from the rules. Modules that define project fact
collectors are imported here so that their collectors register with the engine.
"""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
