"""Azure: credentials, Resource Manager clients, AKS provisioning, storage and registries."""
