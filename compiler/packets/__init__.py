"""Packet sets: the algebra the packet-level checks use (see packet_checks)."""
