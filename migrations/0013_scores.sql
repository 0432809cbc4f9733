CREATE TABLE "job_runs" (
	"tenant_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"kind" text NOT NULL,
	"status" text NOT NULL,
	"progress" jsonb,
	"result" jsonb,
	"error" text,
	"requested_by" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp (3) with time zone,
	"finished_at" timestamp (3) with time zone,
	CONSTRAINT "job_runs_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "job_runs" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "customer_scores" (
	"tenant_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"as_of" date NOT NULL,
	"recency_days" integer,
	"frequency" integer NOT NULL,
	"monetary" bigint NOT NULL,
	"r" smallint,
	"f" smallint,
	"m" smallint,
	"rfm_cell" text,
	"volume" integer NOT NULL,
	"punctuality" real,
	"seniority_days" integer NOT NULL,
	"n_volume" real,
	"n_frequency" real,
	"n_amount" real,
	"n_punctuality" real,
	"n_seniority" real,
	"value_score" real,
	"tier" text,
	"x" integer,
	"tx" integer,
	"age" integer,
	"mean_repeat_spend" double precision,
	"p_alive" double precision,
	"expected_90" double precision,
	"expected_spend" double precision,
	"clv" double precision,
	"model_version" integer,
	"interactions_90" integer NOT NULL,
	"inbound_90" integer NOT NULL,
	"feedback_90" integer NOT NULL,
	"referrals" integer NOT NULL,
	"referral_revenue" bigint NOT NULL,
	"complaints" integer NOT NULL,
	"recoveries" integer NOT NULL,
	"reactivations" integer NOT NULL,
	"aggregates_at" timestamp (3) with time zone,
	"computed_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "customer_scores_tenant_id_customer_id_pk" PRIMARY KEY("tenant_id","customer_id")
);
--> statement-breakpoint
ALTER TABLE "customer_scores" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "customer_tier_history" (
	"tenant_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"from_tier" text,
	"to_tier" text,
	"changed_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "customer_tier_history_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "customer_tier_history" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "score_state" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"model_version" integer DEFAULT 0 NOT NULL,
	"fit" jsonb,
	"fitted_at" timestamp (3) with time zone,
	"cutpoints" jsonb,
	"as_of" date,
	"recomputed_at" timestamp (3) with time zone,
	"watermark" timestamp (3) with time zone
);
--> statement-breakpoint
ALTER TABLE "score_state" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "job_runs" ADD CONSTRAINT "job_runs_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customer_scores" ADD CONSTRAINT "customer_scores_customer_fk" FOREIGN KEY ("tenant_id","customer_id") REFERENCES "public"."customers"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customer_tier_history" ADD CONSTRAINT "customer_tier_history_customer_fk" FOREIGN KEY ("tenant_id","customer_id") REFERENCES "public"."customers"("tenant_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "score_state" ADD CONSTRAINT "score_state_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "customer_tier_history_customer_idx" ON "customer_tier_history" USING btree ("tenant_id","customer_id","changed_at");--> statement-breakpoint
CREATE INDEX "customer_aggregates_updated_idx" ON "customer_aggregates" USING btree ("tenant_id","updated_at");--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "job_runs" AS PERMISSIVE FOR ALL TO public USING (tenant_id = vinculo_current_tenant()) WITH CHECK (tenant_id = vinculo_current_tenant());--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "customer_scores" AS PERMISSIVE FOR ALL TO public USING (tenant_id = vinculo_current_tenant()) WITH CHECK (tenant_id = vinculo_current_tenant());--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "customer_tier_history" AS PERMISSIVE FOR ALL TO public USING (tenant_id = vinculo_current_tenant()) WITH CHECK (tenant_id = vinculo_current_tenant());--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "score_state" AS PERMISSIVE FOR ALL TO public USING (tenant_id = vinculo_current_tenant()) WITH CHECK (tenant_id = vinculo_current_tenant());