"""The centre's MQTT broker (Mosquitto): its listener configuration (``config``) and the users, ACL and
TLS files it reads (``auth``). Nothing is imported here."""
