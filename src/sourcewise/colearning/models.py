"""Models of co-learning: every one is a TenantModel (see core.tenancy)."""
