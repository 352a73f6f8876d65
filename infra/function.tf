data "archive_file" "function" {
  type        = "zip"
  source_dir  = "${path.module}/../functions"
  output_path = "${path.module}/build/function.zip"
  excludes    = ["__pycache__", "webhook/__pycache__"]
  # The same hash (and object name) from every checkout, whatever its umask: no rebuild for nothing.
  output_file_mode = "0644"
}

resource "google_storage_bucket_object" "function" {
  name   = "function-${data.archive_file.function.output_md5}.zip"
  bucket = google_storage_bucket.sources.name
  source = data.archive_file.function.output_path
}

resource "google_cloudfunctions2_function" "webhook" {
  # checkov:skip=CKV_GCP_124: phone providers call the answer webhook from the internet; it only issues per-call tokens
  name     = "${var.name_prefix}-webhook"
  location = var.region

  build_config {
    runtime         = "python312"
    entry_point     = "webhook"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.function.name
      }
    }
  }

  service_config {
    min_instance_count = 0
    max_instance_count = 20
    # A whole vCPU, so one instance answers many webhooks at once (a fractional one serves a single request) and
    # a cold start is quicker: a Vonage call with events shares the instances with every other call's webhooks,
    # and an answer refused with 429 is a call not recorded.
    available_cpu                    = "1"
    available_memory                 = "512Mi"
    max_instance_request_concurrency = 80
    timeout_seconds                  = 10 # providers want the answer within seconds (Vonage: 5 s)
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function.email

    environment_variables = {
      RECORDER_URL     = local.recorder_url
      SAMPLE_RATE      = tostring(var.sample_rate)
      GREETING         = var.greeting
      FORWARD_TO       = var.forward_to
      MAX_CALL_SECONDS = tostring(var.max_call_seconds)
      TELNYX_CODEC     = var.telnyx_codec
      ALLOW_UNSIGNED   = join(",", var.allow_unsigned)
    }

    secret_environment_variables {
      key        = "RECORDER_SECRET"
      project_id = data.google_project.this.number # the doc asks for the number, which the API stores
      secret     = google_secret_manager_secret.recorder.secret_id
      # Pinned, as the doc recommends: the function waits for the version, and a rotation rolls a new revision.
      version = google_secret_manager_secret_version.recorder.version
    }

    dynamic "secret_environment_variables" {
      for_each = local.webhook_secret_names
      content {
        key        = secret_environment_variables.value
        project_id = data.google_project.this.number
        secret     = google_secret_manager_secret.webhook[secret_environment_variables.value].secret_id
        version    = google_secret_manager_secret_version.webhook[secret_environment_variables.value].version
      }
    }
  }

  depends_on = [google_project_service.enabled, time_sleep.build_grants, time_sleep.service_grants]
}
