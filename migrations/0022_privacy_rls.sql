ALTER TABLE "audit_log" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "customer_erasures" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
-- An erased customer is a row without personal data that the application can no longer see (its
-- orders and their aggregates stay). The policy is restrictive: it narrows the tenant policy.
CREATE POLICY "customers_not_erased" ON "customers" AS RESTRICTIVE FOR SELECT TO vinculo_app USING (erased_at IS NULL);--> statement-breakpoint
-- The application cannot write a row it may not see afterwards: the erasure itself runs as the
-- owner, for the current tenant only, and removes every personal field of the row.
CREATE FUNCTION vinculo_erase_customer(customer uuid, at timestamptz) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  UPDATE customers SET
    external_id = NULL, email = NULL, phone = NULL, first_name = NULL, last_name = NULL,
    birth_date = NULL, locale = NULL, address_line = NULL, city = NULL, region = NULL,
    postal_code = NULL, country = NULL, attributes = '{}', tags = '{}', consent = '{}', source = NULL,
    referred_by_customer_id = NULL, referred_by_intermediary_id = NULL, account_manager_id = NULL,
    erased_at = at, version = version + 1, updated_at = at
  WHERE tenant_id = vinculo_current_tenant() AND id = customer AND erased_at IS NULL
  RETURNING true
$$;--> statement-breakpoint
REVOKE ALL ON FUNCTION vinculo_erase_customer(uuid, timestamptz) FROM PUBLIC;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION vinculo_erase_customer(uuid, timestamptz) TO vinculo_app;
