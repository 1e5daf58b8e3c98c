"""The kernel below the edge and the hub: database types and engine set-up (``db``), the settings base
(``settings``), process lifecycle (``process``) and logging set-up (``logs``).

It imports only ``protocol`` and third-party libraries, never a side; nothing is imported here.
"""
