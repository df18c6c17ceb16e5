"""The local automation API: newline-delimited JSON-RPC 2.0 on 127.0.0.1.

Used by CRMs for click-to-dial, by support staff for scripted test calls and
by our own end-to-end tests. See docs/automation.md (the contract).
"""
