"""Fakes of remote services that speak their real wire protocol, for the real client libraries."""
