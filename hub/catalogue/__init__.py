"""The hub's catalogue: versions operators edit and publish (``store``), the retained announcement of the
desired version (``announce``), answers to terminals' requests (``requests``), the CLI. Its web pages are
in :mod:`hub.web.pages.catalogue`."""
