"""Provisioning's one base error: the CLI turns it into a message on stderr and exit code 2."""

from __future__ import annotations

__all__ = ["InventoryError", "ProvisioningError"]


class ProvisioningError(Exception):
    is_user_error = True


class InventoryError(ProvisioningError):
    """The inventory file cannot be read, or says something impossible; the message lists every problem."""
