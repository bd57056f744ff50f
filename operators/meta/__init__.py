"""The meta-controller: tenants, node pools and service claims, and the pure allocator that admits claims."""
