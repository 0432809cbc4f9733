-- UUIDv7 generated in SQL (PostgreSQL 18 has uuidv7(); 15–17 do not): 48 bits of Unix time in
-- milliseconds, then random bits, with the version (7) and variant bits set.
CREATE OR REPLACE FUNCTION vinculo_uuidv7() RETURNS uuid
  LANGUAGE sql VOLATILE PARALLEL SAFE
  AS $$
    SELECT encode(
      set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
        FROM 1 FOR 6), 52, 1), 53, 1),
      'hex')::uuid
  $$;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION vinculo_uuidv7() TO vinculo_app;
