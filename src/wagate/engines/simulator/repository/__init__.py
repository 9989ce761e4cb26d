"""The simulator's network, as tables: the queries each part of the simulator runs on them.
Callers own the transaction."""
