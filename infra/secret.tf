# The key that signs per-call tokens (function) and checks them (recorder). Generated here, never seen by anyone.
resource "random_password" "recorder_secret" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret" "recorder" {
  # To rotate: terraform apply -replace=random_password.recorder_secret (tokens live 5 minutes).
  secret_id = "${var.name_prefix}-recorder-secret"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "recorder" {
  secret      = google_secret_manager_secret.recorder.id
  secret_data = random_password.recorder_secret.result
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
}
