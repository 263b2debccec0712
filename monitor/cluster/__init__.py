"""Several instances sharing the schools (contract §9): partitions, leases and who judges what."""
