-- customer_scores no longer marks its customers for the segments' incremental pass by trigger: the
-- trigger's transition table held every row a full recompute rewrote (a million on a nightly run,
-- spilled to disk) and, in a tenant with dynamic segments, marked each of those customers pending,
-- although every dynamic segment is refreshed in full after each recompute anyway. The scores
-- refresh (after order writes) marks the customers whose rows it wrote itself (ScoresService.onRefreshed).
DROP TRIGGER IF EXISTS customer_scores_segments_insert ON customer_scores;
--> statement-breakpoint
DROP TRIGGER IF EXISTS customer_scores_segments_update ON customer_scores;
