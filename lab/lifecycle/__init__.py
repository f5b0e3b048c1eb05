"""The lab's lifecycle: the machine's checks, the kind cluster, its network, the workloads, the
waits, the enforcement check, and what `up`, `down` and `status` do with them, step by step."""
