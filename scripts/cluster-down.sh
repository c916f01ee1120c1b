#!/usr/bin/env bash
# Stops the nodes scripts/cluster-up.sh started (same DATA).
exec "$(dirname "$0")/cluster-up.sh" down
