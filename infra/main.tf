locals {
  bucket_name = var.bucket_name != "" ? var.bucket_name : "${var.project}-${var.name_prefix}-recordings"

  # Each call's WAV grows in /tmp, which is memory on Cloud Run: 16-bit samples, two channels at 8 kHz (Twilio,
  # Voxology) or one at var.sample_rate (Vonage), for up to max_call_seconds.
  spool_bytes_per_second = max(var.sample_rate, 16000) * 2
  spool_mib_per_call     = ceil(local.spool_bytes_per_second * var.max_call_seconds / 1048576)
  recorder_memory_needed = 512 + var.recorder_concurrency * local.spool_mib_per_call
  recorder_memory_mib    = ceil(local.recorder_memory_needed / 256) * 256
  # The fewest CPUs Cloud Run allows with that much memory; one CPU already carries 500 calls (README, Performance).
  recorder_cpu = (local.recorder_memory_mib > 24576 ? 8 : local.recorder_memory_mib > 16384 ? 6 :
  local.recorder_memory_mib > 8192 ? 4 : local.recorder_memory_mib > 4096 ? 2 : 1)

  # The recorder's settings (README.md, Configuration); RECORDER_SECRET comes from Secret Manager.
  recorder_env = {
    RECORDINGS_BUCKET       = google_storage_bucket.recordings.name
    SPOOL_DIR               = "/tmp/call-recorder-spool"
    REORDER_WINDOW_MS       = "200"
    HANDSHAKE_TIMEOUT_S     = "5"
    MAX_UNAUTHENTICATED     = "100"
    REQUEST_HEAD_TIMEOUT_S  = "5"
    ALLOW_UNSIGNED_UPGRADES = "false"
    READ_BATCH_MS           = "40"
    READ_TIMEOUT_S          = "30"
    GRACE_PERIOD_S          = "8" # Cloud Run sends SIGKILL 10 s after SIGTERM
    SPOOL_RESERVE_MB        = "100"
    MAX_MESSAGE_BYTES       = "65536"
    MAX_TEXT_BYTES          = "16384"
    MAX_CALL_SECONDS        = tostring(var.max_call_seconds)
    MAX_CALLS               = tostring(var.recorder_concurrency)
    UPLOAD_DEADLINE_S       = "60"
    SWEEP_INTERVAL_S        = "60"
    WEB_CONCURRENCY         = "1" # one gevent worker holds hundreds of calls; more would split the memory
  }

  recorder_url = replace(google_cloud_run_v2_service.recorder.uri, "https://", "wss://")
  # The function's own Cloud Run URL: paths arrive unchanged, so a signed webhook's URL is exactly this one.
  function_url = google_cloudfunctions2_function.webhook.service_config[0].uri

  # Optional provider signing secrets (README.md, Security): each set one becomes a Secret Manager secret and
  # the function's environment variable of that name.
  webhook_secret_values = {
    VONAGE_SIGNATURE_SECRET = var.vonage_signature_secret
    TWILIO_AUTH_TOKEN       = var.twilio_auth_token
    SIGNALWIRE_SIGNING_KEY  = var.signalwire_signing_key
  }
  # Which are set is not secret; their values are.
  webhook_secret_names = toset(nonsensitive([for name, value in local.webhook_secret_values : name if value != ""]))

  apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}

resource "google_project_service" "enabled" {
  for_each = toset(local.apis)

  service            = each.value
  disable_on_destroy = false # other things in the project may use them
}
