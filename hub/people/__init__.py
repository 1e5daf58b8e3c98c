"""People of the back office: users, roles, passwords and the one policy of who may do what."""
