"""The history's queries: its writes (`store`), its reads (`queries`), the retention's and the
phone's history sync's. Callers own the transaction."""
