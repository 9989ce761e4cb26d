"""The MCP server: the gateway's API as tools and resources for AI agents.

Every tool is a call of the public HTTP API with the caller's token, so the token's scope,
the request limits, the queue, the pacing and the send policy apply as they do to any
client: over stdio (`wagate mcp`) the calls go to a running node over HTTP; at `/mcp` on a
node they go to the node's own app in process.
"""
