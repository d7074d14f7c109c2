"""Models of monitoring: every one is a TenantModel (see core.tenancy)."""
