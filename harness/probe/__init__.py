"""The probe: one stdlib agent in a small Debian image, deployed on every node."""
