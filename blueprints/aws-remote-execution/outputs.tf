output "endpoint" {
  description = "The public CAS endpoint (CAS, action cache, ByteStream): Bazel's --remote_cache."
  value       = "grpcs://${local.fqdn}"
}

output "execution_endpoint" {
  description = "The scheduler's public endpoint: Bazel's --remote_executor."
  value       = "grpcs://${local.fqdn}:${local.ports.scheduler}"
}

output "scheduler_internal_name" {
  description = "The name workers reach the scheduler at, kept by the scheduler-dns function."
  value       = local.scheduler_host
}

output "cas_bucket" {
  description = "The content-addressable store's bucket (must be empty before the cluster can be destroyed)."
  value       = aws_s3_bucket.store["cas"].id
}

output "action_cache_bucket" {
  description = "The action cache's bucket (must be empty before the cluster can be destroyed)."
  value       = aws_s3_bucket.store["ac"].id
}

output "images" {
  description = "The AMIs made by the builders, by architecture."
  value       = { for k, ami in aws_ami_from_instance.nativelink : k => ami.id }
}

output "builder_instances" {
  description = "The image builders, by architecture (stopped unless keep_builder)."
  value       = { for k, i in aws_instance.builder : k => i.id }
}

output "workers" {
  description = "Workers per architecture."
  value       = { for k, w in local.workers : k => w.count }
}
