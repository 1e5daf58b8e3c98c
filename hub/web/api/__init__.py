"""The JSON API under ``/api``: everything the pages do, for scripts and other systems (OpenAPI at
``/schema/openapi.json``)."""
