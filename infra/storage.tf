resource "google_storage_bucket" "recordings" {
  # checkov:skip=CKV_GCP_62: access logs would go to a second bucket the user must manage; Cloud Audit Logs cover who read what
  # checkov:skip=CKV_GCP_78: recordings are never overwritten and the recorder cannot delete; var.versioning turns it on
  name                        = local.bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false # `make destroy` never deletes recordings: empty the bucket yourself first

  versioning {
    enabled = var.versioning
  }

  dynamic "lifecycle_rule" {
    for_each = var.retention_days > 0 ? [var.retention_days] : []
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name != "" ? [var.kms_key_name] : []
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [google_project_service.enabled]
}

# The function's zipped source, one object per content hash so that a code change redeploys it.
resource "google_storage_bucket" "sources" {
  # checkov:skip=CKV_GCP_62: holds only build inputs that Terraform itself uploads
  # checkov:skip=CKV_GCP_78: every source object is named by its content hash; old ones are never needed again
  name                        = "${var.project}-${var.name_prefix}-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # only build inputs live here

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}
