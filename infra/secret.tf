# The key that signs per-call tokens (function) and checks them (recorder). Generated here, never seen by anyone.
resource "random_password" "recorder_secret" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret" "recorder" {
  # To rotate: terraform apply -replace=random_password.recorder_secret. Both services name the version, so
  # both roll a new revision; a token signed just before is refused by the new recorder (tokens live 5 minutes).
  secret_id = "${var.name_prefix}-recorder-secret"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "recorder" {
  secret      = google_secret_manager_secret.recorder.id
  secret_data = random_password.recorder_secret.result

  # secret_data forces a new version: make it before the old one goes, so an enabled version always exists.
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_secret_manager_secret" "webhook" {
  for_each  = local.webhook_secret_names
  secret_id = "${var.name_prefix}-${lower(replace(each.key, "_", "-"))}"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "webhook" {
  for_each    = local.webhook_secret_names
  secret      = google_secret_manager_secret.webhook[each.key].id
  secret_data = local.webhook_secret_values[each.key]

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_secret_manager_secret" "stream" {
  for_each  = local.stream_secret_names
  secret_id = "${var.name_prefix}-${lower(replace(each.key, "_", "-"))}"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "stream" {
  for_each    = local.stream_secret_names
  secret      = google_secret_manager_secret.stream[each.key].id
  secret_data = local.stream_secret_values[each.key]

  lifecycle {
    create_before_destroy = true
  }
}
