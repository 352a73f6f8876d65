locals {
  # The recorder's temporary part objects (segments, header, per-call manifest) live under this prefix until the
  # final WAV is composed from them (README.md, What gets stored).
  parts_prefix = ".parts/"
  # With versioning on, a deleted recording stays as a noncurrent version this long, then goes for good.
  noncurrent_days = 7
}

resource "google_storage_bucket" "recordings" {
  # checkov:skip=CKV_GCP_62: access logs would go to a second bucket the user must manage; Cloud Audit Logs cover who read what
  # checkov:skip=CKV_GCP_78: recordings are never overwritten and the recorder cannot delete them; var.versioning turns it on
  name                        = local.bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false # `make destroy` never deletes recordings: empty the bucket yourself first

  versioning {
    enabled = var.versioning
  }

  # Soft delete off: a deleted object would otherwise be kept (and billed) 7 more days. That would break
  # retention_days' promise, and bill every part the recorder deletes after composing a call for a week, which
  # doubles the storage of each week's audio. Deletion protection for recordings is var.versioning's job.
  soft_delete_policy {
    retention_duration_seconds = 0
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

  # With versioning, the rule above only makes a recording noncurrent: this one deletes it (storage_bucket doc,
  # days_since_noncurrent_time), so retention_days still means deleted.
  dynamic "lifecycle_rule" {
    for_each = var.retention_days > 0 && var.versioning ? [local.noncurrent_days] : []
    content {
      condition {
        days_since_noncurrent_time = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  # A safety net: the recorder deletes a call's parts once its WAV is composed, or recovers an abandoned call
  # within minutes. Anything still under .parts/ after 7 days was missed by both.
  lifecycle_rule {
    condition {
      age            = 7
      matches_prefix = [local.parts_prefix]
    }
    action {
      type = "Delete"
    }
  }

  # With versioning, the recorder's deletes of parts leave noncurrent versions: delete them the next day.
  dynamic "lifecycle_rule" {
    for_each = var.versioning ? [1] : []
    content {
      condition {
        days_since_noncurrent_time = lifecycle_rule.value
        matches_prefix             = [local.parts_prefix]
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

  lifecycle {
    precondition {
      # projects/P/locations/L/keyRings/R/cryptoKeys/K: a bucket can only use a key in its own location.
      # (a conditional, not ||: Terraform evaluates both operands, and split("")[3] is an error)
      condition     = var.kms_key_name == "" ? true : split("/", var.kms_key_name)[3] == var.region
      error_message = "kms_key_name must be a key in the bucket's region (${var.region})."
    }
  }

  depends_on = [google_project_service.enabled, google_kms_crypto_key_iam_member.storage_uses_key]
}

# CMEK: Cloud Storage encrypts with the key as its own service agent, which needs the key's encrypter role
# before the bucket is created (storage_bucket doc, encryption).
data "google_storage_project_service_account" "gcs" {
  count      = var.kms_key_name != "" ? 1 : 0
  depends_on = [google_project_service.enabled]
}

resource "google_kms_crypto_key_iam_member" "storage_uses_key" {
  count         = var.kms_key_name != "" ? 1 : 0
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_storage_project_service_account.gcs[0].email_address}"
}

# Build inputs: the function's zipped source (one object per content hash, so a code change redeploys it), and
# the recorder image build's staged source and logs (make deploy's gcloud builds submit).
resource "google_storage_bucket" "sources" {
  # checkov:skip=CKV_GCP_62: holds only build inputs and build logs that Terraform and make deploy write
  # checkov:skip=CKV_GCP_78: every source object is named by its content hash or build; old ones are never needed again
  name                        = "${var.project}-${var.name_prefix}-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # only build inputs live here

  # Staged sources and build logs go after 30 days. The function's zips stay: Terraform manages the current one,
  # and deleting it would show up as a re-create in every later plan.
  lifecycle_rule {
    condition {
      age            = 30
      matches_prefix = ["staging/", "build-logs/"]
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}
