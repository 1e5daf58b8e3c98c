"""Provisioning of terminals over SSH (``shegong provision …``), driving pyinfra from an inventory file.

``inventory`` reads the TOML inventory; ``render`` makes the files a terminal gets (pure text);
``terminal`` is the pyinfra deploy of one terminal; ``engine`` runs it on many hosts in parallel and
counts what changed (``apply``, ``rotate``); ``hubside`` issues and revokes broker credentials on the hub;
``retire`` and ``upgrade`` take terminals out of service and to a new release; ``wheelhouse`` builds the
wheels the terminal installs from without an index; ``cli`` is the command. docs/provisioning.md is the
administrator's guide.
"""
