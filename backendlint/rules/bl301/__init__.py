"""BL301's pieces that are not the rule class (``rules/bl301_write_outside_transaction.py``):
``severity.py`` reads what the writes of a finding do to the world and ranks it."""
