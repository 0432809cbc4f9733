-- A full recompute rewrites every customer's scores row when the model's parameters move (new
-- orders) or a day passes. With full pages each new row version went to another page, and the
-- primary key got a new entry per row; with half of each page free, the new version stays on its
-- page (a HOT update: no index entry, the old version pruned in place). Measured on a million
-- customers (768,000 rows rewritten): the write step 14.5 s on a freshly packed table, 17.4 s on one
-- a few recomputes had bloated, 11.0–11.6 s at fillfactor 50 (and the table then stays at about
-- twice its packed size, as the bloated one was). Applies to the pages written from now on; a
-- `VACUUM FULL customer_scores` at a quiet hour rewrites the existing ones.
ALTER TABLE customer_scores SET (fillfactor = 50);
