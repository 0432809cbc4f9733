CREATE TABLE "customer_consent_history" (
	"tenant_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"channel" text NOT NULL,
	"granted" boolean NOT NULL,
	"at" timestamp (3) with time zone NOT NULL,
	"source" text,
	"recorded_by" text NOT NULL,
	"recorded_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "customer_consent_history_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "customer_consent_history" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "customer_consent_history" ADD CONSTRAINT "customer_consent_history_customer_fk" FOREIGN KEY ("tenant_id","customer_id") REFERENCES "public"."customers"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "customer_consent_history_customer_idx" ON "customer_consent_history" USING btree ("tenant_id","customer_id","at");--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "customer_consent_history" AS PERMISSIVE FOR ALL TO public USING (tenant_id = vinculo_current_tenant()) WITH CHECK (tenant_id = vinculo_current_tenant());