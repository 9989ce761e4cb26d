"""The core's repository: the queries that modules directly under `wagate/` run, and those on
the instances table that the engines layer needs as much as the instances feature. Callers own
the transaction."""
