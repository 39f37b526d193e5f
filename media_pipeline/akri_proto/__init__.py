"""Akri camera.proto: generated gRPC stubs (see README.md)."""
