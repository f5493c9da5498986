-- Capacity requests that cannot be honoured now wait visibly (DESIGN.md
-- §3.8): `waiting` holds why (JSON: code, message, since) until the
-- cluster follows the request; NULL once it does. Existing requests were
-- followed when they were made.
ALTER TABLE capacity_requests ADD COLUMN waiting TEXT;

-- Costs are current: the model's costs are recorded up to this instant
-- (the last settlement); what accrued since is shown as provisional.
ALTER TABLE organizations ADD COLUMN costs_accrued_at BIGINT;
