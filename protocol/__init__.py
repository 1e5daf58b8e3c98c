"""The wire contract between committee terminals and the hub: topics, envelope, message models.

Pure: no I/O and nothing of ours is imported here. See docs/protocol.md for the topic tree.
"""

SCHEMA_VERSION = 2
"""Version of every envelope this package writes; the hub rejects any other. 2: cases travel sealed."""

__all__ = ["SCHEMA_VERSION"]
