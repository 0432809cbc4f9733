ALTER TABLE "customer_consent_history" FORCE ROW LEVEL SECURITY;
