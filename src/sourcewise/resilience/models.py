"""Models of resilience: every one is a TenantModel (see core.tenancy)."""
