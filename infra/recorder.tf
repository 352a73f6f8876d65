resource "google_artifact_registry_repository" "recorder" {
  # checkov:skip=CKV_GCP_84: the image holds only this project's public code and pinned packages, no data
  location      = var.region
  repository_id = var.name_prefix
  description   = "Call recorder images, tagged with the git commit they were built from"
  format        = "DOCKER"

  # Checked here because make deploy's first, targeted apply plans this resource: a wrong pair of variables
  # stops the deploy before the minutes-long image build, not after it (review C14).
  lifecycle {
    precondition {
      condition     = var.recorder_min_instances <= var.recorder_max_instances
      error_message = "recorder_min_instances (${var.recorder_min_instances}) must not exceed recorder_max_instances (${var.recorder_max_instances})."
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_run_v2_service" "recorder" {
  # Providers connect from the internet and cannot present Google credentials: the per-call token is the gate.
  # No IAM check instead of an allUsers binding, which Domain Restricted Sharing refuses (cloud_run_v2_service
  # doc, invoker_iam_disabled).
  name                 = "${var.name_prefix}-recorder"
  location             = var.region
  ingress              = "INGRESS_TRAFFIC_ALL"
  invoker_iam_disabled = true
  deletion_protection  = false

  template {
    service_account                  = google_service_account.recorder.email
    timeout                          = "3600s" # a WebSocket is one request; max_call_seconds ends the call 60 s sooner
    max_instance_request_concurrency = var.recorder_concurrency
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"

    scaling {
      min_instance_count = var.recorder_min_instances
      max_instance_count = var.recorder_max_instances
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = tostring(local.recorder_cpu)
          memory = "${local.recorder_memory_mib}Mi"
        }
        # Instance-based CPU: segment uploads, compose after the socket closed, and the sweeper run outside any
        # request, and with request-based CPU they would be throttled to near zero (Cloud Run, CPU allocation).
        cpu_idle          = false
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.recorder_env
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = local.stream_secret_names
        content {
          name = env.value
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.stream[env.value].secret_id
              version = google_secret_manager_secret_version.stream[env.value].version
            }
          }
        }
      }
      dynamic "env" {
        for_each = local.recorder_webhook_secret_names
        content {
          name = env.value
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.webhook[env.value].secret_id
              version = google_secret_manager_secret_version.webhook[env.value].version
            }
          }
        }
      }
      env {
        name = "RECORDER_SECRET"
        value_source {
          secret_key_ref {
            secret = google_secret_manager_secret.recorder.secret_id
            # The version itself, not "latest": the revision then waits for it, and a rotation rolls a new one.
            version = google_secret_manager_secret_version.recorder.version
          }
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 2
        timeout_seconds   = 2
        failure_threshold = 30
      }

      liveness_probe {
        http_get {
          path = "/healthz"
        }
        # Generous: a restart would cut every call in flight.
        period_seconds    = 30
        timeout_seconds   = 10
        failure_threshold = 6
      }
    }
  }

  depends_on = [google_project_service.enabled, time_sleep.service_grants]
}
