"""The kiosk's pages, one module per part of the resident's journey."""

from __future__ import annotations

from edge.kiosk.routes import apply, cases, home, keyboard, rating, services, staff

__all__ = ["ROUTES"]

ROUTES = [*home.ROUTES, *keyboard.ROUTES, *services.ROUTES, *apply.ROUTES, *rating.ROUTES, *cases.ROUTES, *staff.ROUTES]
