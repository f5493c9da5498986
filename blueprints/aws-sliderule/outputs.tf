output "endpoint" {
  description = "The cluster's front door: Slipway's gateway, over HTTPS."
  value       = "https://${local.fqdn}"
}

output "ip_address" {
  description = "The gateway's public address (an Elastic IP, kept across gateway replacements)."
  value       = aws_eip.gateway.public_ip
}

output "monitoring_url" {
  description = "Grafana on the manager, through the gateway's proxy (its own login: user admin)."
  value       = "https://${local.fqdn}/monitor/"
}

output "monitoring_password_parameter" {
  description = "The SSM SecureString holding Grafana's admin password (the name only; the value is in no Terraform state)."
  value       = aws_ssm_parameter.grafana_admin.name
}

output "node_group" {
  description = "The nodes' auto-scaling group."
  value       = aws_autoscaling_group.nodes.name
}

output "gateway_instance_id" {
  description = "The gateway instance (reach it with Session Manager)."
  value       = aws_instance.gateway.id
}

output "manager_instance_id" {
  description = "The manager instance (reach it with Session Manager)."
  value       = aws_instance.manager.id
}
