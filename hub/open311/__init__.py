"""Open311 GeoReport v2 for partner systems (the 12345 hotline): partner keys, services from the catalogue
in force, requests as cases."""
