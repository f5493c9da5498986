-- A lease orders the queue by each organization's and person's use of the
-- workers: the operations running, and those started within the last few
-- minutes (slipway_core::fairness::SHARE_WINDOW), read at every lease.
CREATE INDEX operations_by_start ON operations (started_at);
