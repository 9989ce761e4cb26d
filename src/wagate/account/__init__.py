"""The account surface: contacts, blocklist, profile, privacy, presence, chat settings, LIDs
and calls (docs/api.md "Account")."""
