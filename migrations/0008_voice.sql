CREATE TABLE "feedback" (
	"tenant_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"interaction_id" uuid,
	"order_id" uuid,
	"dimension" text NOT NULL,
	"expectation" smallint NOT NULL,
	"perception" smallint NOT NULL,
	"gap" integer GENERATED ALWAYS AS (perception - expectation) STORED,
	"nps" smallint,
	"csat" smallint,
	"comment" text,
	"channel" text,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "feedback_tenant_id_id_pk" PRIMARY KEY("tenant_id","id"),
	CONSTRAINT "feedback_scales" CHECK (expectation BETWEEN 1 AND 7 AND perception BETWEEN 1 AND 7 AND (nps IS NULL OR nps BETWEEN 0 AND 10) AND (csat IS NULL OR csat BETWEEN 1 AND 5))
);
--> statement-breakpoint
ALTER TABLE "feedback" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "interactions" (
	"tenant_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"channel" text NOT NULL,
	"direction" text NOT NULL,
	"type" text NOT NULL,
	"subject" text,
	"body" text,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"intermediary_id" uuid,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"sentiment" real,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"reply_to" uuid,
	"case_status" text,
	"first_response_due_at" timestamp (3) with time zone,
	"due_at" timestamp (3) with time zone,
	"first_response_at" timestamp (3) with time zone,
	"resolved_at" timestamp (3) with time zone,
	"closed_at" timestamp (3) with time zone,
	"resolution_outcome" text,
	"resolution_note" text,
	"sla_breached" boolean DEFAULT false NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "interactions_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "interactions" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "feedback" ADD CONSTRAINT "feedback_customer_fk" FOREIGN KEY ("tenant_id","customer_id") REFERENCES "public"."customers"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "feedback" ADD CONSTRAINT "feedback_interaction_fk" FOREIGN KEY ("tenant_id","interaction_id") REFERENCES "public"."interactions"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "feedback" ADD CONSTRAINT "feedback_order_fk" FOREIGN KEY ("tenant_id","order_id") REFERENCES "public"."orders"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "interactions" ADD CONSTRAINT "interactions_customer_fk" FOREIGN KEY ("tenant_id","customer_id") REFERENCES "public"."customers"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "interactions" ADD CONSTRAINT "interactions_intermediary_fk" FOREIGN KEY ("tenant_id","intermediary_id") REFERENCES "public"."intermediaries"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "interactions" ADD CONSTRAINT "interactions_reply_to_fk" FOREIGN KEY ("tenant_id","reply_to") REFERENCES "public"."interactions"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "feedback_customer_idx" ON "feedback" USING btree ("tenant_id","customer_id","occurred_at");--> statement-breakpoint
CREATE INDEX "feedback_occurred_idx" ON "feedback" USING btree ("tenant_id","occurred_at");--> statement-breakpoint
CREATE INDEX "interactions_customer_occurred_idx" ON "interactions" USING btree ("tenant_id","customer_id","occurred_at");--> statement-breakpoint
CREATE INDEX "interactions_occurred_idx" ON "interactions" USING btree ("tenant_id","occurred_at");--> statement-breakpoint
CREATE INDEX "interactions_open_cases_idx" ON "interactions" USING btree ("tenant_id","case_status","due_at") WHERE "interactions"."case_status" IS NOT NULL AND "interactions"."case_status" NOT IN ('resolved', 'closed');--> statement-breakpoint
CREATE INDEX "interactions_reply_to_idx" ON "interactions" USING btree ("tenant_id","reply_to");--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "feedback" AS PERMISSIVE FOR ALL TO public USING (tenant_id = vinculo_current_tenant()) WITH CHECK (tenant_id = vinculo_current_tenant());--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "interactions" AS PERMISSIVE FOR ALL TO public USING (tenant_id = vinculo_current_tenant()) WITH CHECK (tenant_id = vinculo_current_tenant());