# Images: one builder instance per architecture installs NativeLink (through
# an SSM association Terraform waits for), an AMI is made from it, and the
# builder is stopped — unless keep_builder asks it to stay up.
#
# Stopped, not terminated: a builder that terminated itself (as in
# NativeLink's reference, where the imaging reboot ends it) would vanish from
# under Terraform, and every later plan would create it again and rebuild
# the images — a drift Slipway's refresh would report forever. A stopped
# builder costs only its 16 GiB volume; destroying the cluster terminates it.
# New inputs (NativeLink version, build script) replace the builders and the
# images.

locals {
  builders = {
    x86 = { ssm_arch = "x86_64", instance_type = "c7i.large" }
    arm = { ssm_arch = "arm64", instance_type = "c7g.large" }
  }

  build_script = templatefile("${path.module}/templates/build.sh.tftpl", {
    version    = var.nativelink_version
    base_url   = trimsuffix(var.nativelink_release_base_url, "/")
    setup_nvme = file("${path.module}/files/setup-nvme.sh")
    service    = file("${path.module}/files/nativelink.service")
  })
  build_id = substr(sha256(local.build_script), 0, 10)
}

data "aws_ssm_parameter" "al2023" {
  for_each = local.builders
  name     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${each.value.ssm_arch}"
}

resource "terraform_data" "build" {
  input = local.build_id
}

resource "aws_instance" "builder" {
  for_each               = local.builders
  ami                    = data.aws_ssm_parameter.al2023[each.key].insecure_value
  instance_type          = each.value.instance_type
  subnet_id              = local.private_subnet_ids[0]
  vpc_security_group_ids = [local.sg.builder]
  iam_instance_profile   = aws_iam_instance_profile.instance["builder"].name

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 16
    encrypted   = true
    tags        = merge(var.tags, { Name = "${local.name}-builder-${each.key}" })
  }

  tags = merge(var.tags, { Name = "${local.name}-builder-${each.key}" })

  lifecycle {
    # A new Amazon Linux release does not rebuild the images by itself; a new
    # build does, from the latest release.
    ignore_changes        = [ami]
    replace_triggered_by  = [terraform_data.build]
    create_before_destroy = true
  }
}

resource "aws_ssm_association" "build" {
  for_each         = aws_instance.builder
  name             = "AWS-RunShellScript"
  association_name = "${local.name}-build-${each.key}-${local.build_id}"

  targets {
    key    = "InstanceIds"
    values = [each.value.id]
  }

  parameters = {
    commands         = local.build_script
    executionTimeout = "1800"
  }

  wait_for_success_timeout_seconds = 2400
}

resource "aws_ec2_instance_state" "builder" {
  for_each    = aws_instance.builder
  instance_id = each.value.id
  state       = var.keep_builder ? "running" : "stopped"

  depends_on = [aws_ssm_association.build]
}

resource "aws_ami_from_instance" "nativelink" {
  for_each           = aws_instance.builder
  name               = "${local.name}-nativelink-${var.nativelink_version}-${each.key}-${local.build_id}"
  description        = "NativeLink ${var.nativelink_version} (${each.key}) for Slipway cluster ${local.name}"
  source_instance_id = each.value.id
  # Imaged after the build, stopped (or, kept running, rebooted) so the
  # file systems are consistent.
  snapshot_without_reboot = false
  tags                    = merge(var.tags, { Name = "${local.name}-nativelink-${each.key}" })

  depends_on = [aws_ec2_instance_state.builder]

  lifecycle {
    create_before_destroy = true
  }
}
