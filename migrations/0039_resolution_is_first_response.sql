-- A case resolved without a reply before it was answered by its resolution: that is now recorded as
-- its first response (the insights and the SLA rules read first_response_at only).
UPDATE interactions
SET first_response_at = resolved_at
WHERE first_response_at IS NULL AND resolved_at IS NOT NULL AND case_status IS NOT NULL;
