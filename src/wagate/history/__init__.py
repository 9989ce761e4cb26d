"""The history store: every message of an instance's conversations, its chats and contacts."""
