"""The back office pages (server-rendered, Chinese); every form carries a CSRF token."""
