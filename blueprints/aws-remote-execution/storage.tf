# The content-addressable store and the action cache: one bucket each.
#
# force_destroy = false: a bucket that holds objects cannot be deleted, so a
# destroy of the cluster fails (and Slipway reports it) until someone has
# emptied or moved the cache on purpose. There is deliberately no
# lifecycle { prevent_destroy = true }: it would also refuse to destroy an
# empty bucket, and Slipway must be able to destroy the cluster once the
# buckets are empty.
resource "aws_s3_bucket" "store" {
  for_each      = toset(["cas", "ac"])
  bucket_prefix = "${substr(local.name, 0, 30)}-${each.key}-"
  force_destroy = false
  tags          = merge(var.tags, { Name = "${local.name}-${each.key}" })
}

resource "aws_s3_bucket_public_access_block" "store" {
  for_each                = aws_s3_bucket.store
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "store" {
  for_each = aws_s3_bucket.store
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "store" {
  for_each = aws_s3_bucket.store
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "store" {
  for_each = aws_s3_bucket.store
  bucket   = each.value.id
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.store
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "store" {
  for_each = aws_s3_bucket.store
  bucket   = each.value.id
  policy   = data.aws_iam_policy_document.tls_only[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.store]
}
