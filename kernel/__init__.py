"""The kernel below the edge and the hub: database types and engine set-up (``db``), the settings base
(``settings``), process lifecycle (``process``), logging set-up (``logs``) and
secret key files (``keyfile``).

It imports only ``protocol`` and third-party libraries, never a side; nothing is imported here.
"""
