"""A course's own code, as a user brings it: model classes the course hands out (nets.py)."""
