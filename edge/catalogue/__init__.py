"""The catalogue this terminal runs: ``store`` keeps it (seed until the hub publishes one), ``sync`` follows
the hub's announcements and fetches only the items that changed."""
