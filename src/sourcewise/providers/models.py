"""Models of providers: every one is a TenantModel (see core.tenancy)."""
