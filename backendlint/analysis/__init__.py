"""Whole-function analyses shared by two or more rules: they return data (what runs
where, under which transaction, which query a loop starts), never sentences; the rules
word their messages."""
