"""Local lab: real Linux hosts (systemd-nspawn machines) on one box, joined by a bridge."""
