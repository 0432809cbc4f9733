ALTER TABLE "customer_aggregates" ALTER COLUMN "items" SET DATA TYPE bigint;--> statement-breakpoint
ALTER TABLE "customer_scores" ALTER COLUMN "volume" SET DATA TYPE bigint;