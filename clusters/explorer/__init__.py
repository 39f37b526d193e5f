"""The cluster explorer: what runs on a cluster, read through the official client with the
panel's own identity, and the few operator actions allowed from there."""
