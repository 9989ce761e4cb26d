"""Groups: create, read, change, members, join requests, invites, leave, and their events."""
