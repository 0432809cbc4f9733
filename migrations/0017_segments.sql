CREATE TABLE "segment_history" (
	"tenant_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"segment_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"change" text NOT NULL,
	"reason" text NOT NULL,
	"at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "segment_history_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "segment_history" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "segment_members" (
	"tenant_id" uuid NOT NULL,
	"segment_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"entered_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "segment_members_tenant_id_segment_id_customer_id_pk" PRIMARY KEY("tenant_id","segment_id","customer_id")
);
--> statement-breakpoint
ALTER TABLE "segment_members" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "segment_pending" (
	"tenant_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	CONSTRAINT "segment_pending_tenant_id_customer_id_pk" PRIMARY KEY("tenant_id","customer_id")
);
--> statement-breakpoint
ALTER TABLE "segment_pending" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "segment_reads" (
	"tenant_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"segment_id" uuid NOT NULL,
	"actor" text NOT NULL,
	"format" text NOT NULL,
	"rows" integer NOT NULL,
	"at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "segment_reads_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "segment_reads" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "segments" (
	"tenant_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"kind" text NOT NULL,
	"definition" jsonb,
	"depends_on" uuid[] DEFAULT '{}'::uuid[] NOT NULL,
	"refresh_every_minutes" integer,
	"member_count" integer DEFAULT 0 NOT NULL,
	"refreshed_at" timestamp (3) with time zone,
	"last_error" text,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "segments_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "segments" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "segment_history" ADD CONSTRAINT "segment_history_segment_fk" FOREIGN KEY ("tenant_id","segment_id") REFERENCES "public"."segments"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "segment_history" ADD CONSTRAINT "segment_history_customer_fk" FOREIGN KEY ("tenant_id","customer_id") REFERENCES "public"."customers"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "segment_members" ADD CONSTRAINT "segment_members_segment_fk" FOREIGN KEY ("tenant_id","segment_id") REFERENCES "public"."segments"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "segment_members" ADD CONSTRAINT "segment_members_customer_fk" FOREIGN KEY ("tenant_id","customer_id") REFERENCES "public"."customers"("tenant_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "segments" ADD CONSTRAINT "segments_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "segment_history_segment_idx" ON "segment_history" USING btree ("tenant_id","segment_id","id");--> statement-breakpoint
CREATE INDEX "segment_history_customer_idx" ON "segment_history" USING btree ("tenant_id","customer_id","id");--> statement-breakpoint
CREATE INDEX "segment_members_customer_idx" ON "segment_members" USING btree ("tenant_id","customer_id");--> statement-breakpoint
CREATE INDEX "segment_reads_segment_idx" ON "segment_reads" USING btree ("tenant_id","segment_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "segments_name_key" ON "segments" USING btree ("tenant_id","name");--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "segment_history" AS PERMISSIVE FOR ALL TO public USING (tenant_id = vinculo_current_tenant()) WITH CHECK (tenant_id = vinculo_current_tenant());--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "segment_members" AS PERMISSIVE FOR ALL TO public USING (tenant_id = vinculo_current_tenant()) WITH CHECK (tenant_id = vinculo_current_tenant());--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "segment_pending" AS PERMISSIVE FOR ALL TO public USING (tenant_id = vinculo_current_tenant()) WITH CHECK (tenant_id = vinculo_current_tenant());--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "segment_reads" AS PERMISSIVE FOR ALL TO public USING (tenant_id = vinculo_current_tenant()) WITH CHECK (tenant_id = vinculo_current_tenant());--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "segments" AS PERMISSIVE FOR ALL TO public USING (tenant_id = vinculo_current_tenant()) WITH CHECK (tenant_id = vinculo_current_tenant());