DROP INDEX "customers_phone_idx";--> statement-breakpoint
CREATE INDEX "customers_phone_idx" ON "customers" USING btree ("tenant_id",regexp_replace("phone", '[^0-9+]', '', 'g'));