"""The wire contract between committee terminals and the hub: topics, envelope, message models.

Pure: no I/O and nothing of ours is imported here. See docs/protocol.md for the topic tree.
"""

SCHEMA_VERSION = 1
"""Version of every envelope this package writes; the hub rejects any other."""

__all__ = ["SCHEMA_VERSION"]
