# Home directories: an encrypted EFS file system with a mount target in each
# private subnet, reachable from the cluster's nodes only, and one access
# point that maps every client to jovyan (1000:100) under /home. Every user
# pod mounts it at /home/jovyan with its own sub-directory.
#
# Destroying the cluster deletes the file system and every home directory;
# with efs_backups, AWS Backup's recovery points remain (by its default plan).

resource "aws_efs_file_system" "home" {
  creation_token   = "${local.name}-home"
  encrypted        = true
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }

  tags = merge(var.tags, { Name = "${local.name}-home" })
}

resource "aws_efs_backup_policy" "home" {
  file_system_id = aws_efs_file_system.home.id

  backup_policy {
    status = var.efs_backups ? "ENABLED" : "DISABLED"
  }
}

resource "aws_security_group" "efs" {
  name        = "${local.name}-efs"
  description = "Home directories of ${local.name}: NFS from the cluster's nodes"
  vpc_id      = local.vpc_id
  tags        = merge(var.tags, { Name = "${local.name}-efs" })
}

# Managed node groups use the cluster security group.
resource "aws_vpc_security_group_ingress_rule" "efs" {
  security_group_id            = aws_security_group.efs.id
  description                  = "NFS from the nodes"
  referenced_security_group_id = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
}

resource "aws_efs_mount_target" "home" {
  for_each        = toset(local.private_subnet_ids)
  file_system_id  = aws_efs_file_system.home.id
  subnet_id       = each.key
  security_groups = [aws_security_group.efs.id]
}

resource "aws_efs_access_point" "home" {
  file_system_id = aws_efs_file_system.home.id

  posix_user {
    uid = 1000
    gid = 100
  }

  root_directory {
    path = "/home"
    creation_info {
      owner_uid   = 1000
      owner_gid   = 100
      permissions = "0755"
    }
  }

  tags = merge(var.tags, { Name = "${local.name}-home" })
}
