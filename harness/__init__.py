"""The developer harness above the edge and the hub: the demo, benchmarks, a test Mosquitto, a link proxy
that plays a bad VPN, and sample data. Nothing here ships in a terminal's or a hub's path of work;
nothing is imported here.
"""
