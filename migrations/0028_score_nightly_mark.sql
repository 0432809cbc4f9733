ALTER TABLE "score_state" ADD COLUMN "nightly_at" timestamp (3) with time zone;--> statement-breakpoint
-- until now the last recompute of any kind stood for the nightly run: keep that, so the upgrade does not add a run
UPDATE "score_state" SET "nightly_at" = "recomputed_at";
