-- Where a cluster's runtime lives on the machine that runs it (the
-- `runtime_dir` standard variable): chosen by the process that runs the
-- cluster's first operation, passed to Terraform by every later one on any
-- process (so that what Terraform is given is a function of the cluster,
-- never of the process), and forgotten once nothing of the cluster is left.
ALTER TABLE clusters ADD COLUMN runtime_dir TEXT;
