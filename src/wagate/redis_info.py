"""redis-py's client metadata (CLIENT SETINFO), built once for every connection.

Without it redis-py 8 reads its own package metadata from disk (`importlib.metadata`) for
each new connection: ~4 % of a node's CPU while it connected 1,000 instances, each sender
opening its own connection for its blocking read (py-spy, bench `scale`).
"""

from __future__ import annotations

from redis.driver_info import DriverInfo

DRIVER_INFO = DriverInfo()
