#!/usr/bin/env bash
# Placeholder until the Kubernetes test bed lands.
echo "Kubernetes test bed: not built yet"; exit 1
