locals {
  bucket_name = var.bucket_name != "" ? var.bucket_name : "${var.project}-${var.name_prefix}-recordings"

  # Memory per instance, independent of call length (issue 8): the recorder streams each call to the bucket in
  # segment_seconds segments, so its spool in /tmp (memory on Cloud Run) holds about two segments per call.
  # The largest stream is 24 kHz stereo L16, 96,000 B/s: 2 x 96,000 x 10 s = 1.8 MiB at the default, so 4 MiB
  # per call covers it, and longer segments scale it. Segments are simple (non-resumable) uploads of at most
  # 8 MiB, at most 16 at once: 128 MiB of upload buffers. Plus the worker's baseline (512 MiB) and 25 % headroom.
  # Defaults: (512 + 250 x 4 + 128) x 1.25 = 2,050 -> 2,304 MiB; at 1,000 calls 5,800 -> 5,888 MiB.
  spool_mib_per_call     = max(4, ceil(2 * 96000 * var.segment_seconds / 1048576))
  upload_buffer_mib      = 16 * 8
  recorder_memory_needed = (512 + var.recorder_concurrency * local.spool_mib_per_call + local.upload_buffer_mib) * 1.25
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
    READ_BATCH_MS           = "60"
    READ_TIMEOUT_S          = "30"
    GRACE_PERIOD_S          = "8" # Cloud Run sends SIGKILL 10 s after SIGTERM
    SPOOL_RESERVE_MB        = "100"
    MAX_MESSAGE_BYTES       = "65536"
    MAX_TEXT_BYTES          = "16384"
    MAX_CALL_SECONDS        = tostring(var.max_call_seconds)
    MAX_CALLS               = tostring(var.recorder_concurrency)
    UPLOAD_DEADLINE_S       = "60"
    SWEEP_INTERVAL_S        = "60"
    SEGMENT_S               = tostring(var.segment_seconds)
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
    TELNYX_PUBLIC_KEY       = var.telnyx_public_key
    PLIVO_AUTH_TOKEN        = var.plivo_auth_token
  }
  # Which are set is not secret; their values are.
  webhook_secret_names = toset(nonsensitive([for name, value in local.webhook_secret_values : name if value != ""]))
  # The recorder checks X-Twilio-Signature on /ws/twilio upgrades with the same token (README: Security).
  recorder_webhook_secret_names = setintersection(local.webhook_secret_names, ["TWILIO_AUTH_TOKEN"])

  # The recorder's optional upgrade credentials (README.md, Genesys AudioHook and Asterisk): each set one becomes a
  # Secret Manager secret and the recorder's environment variable of that name.
  stream_secret_values = {
    AUDIOHOOK_API_KEY       = var.audiohook_api_key
    AUDIOHOOK_CLIENT_SECRET = var.audiohook_client_secret
    ASTERISK_USERNAME       = var.asterisk_username
    ASTERISK_PASSWORD       = var.asterisk_password
  }
  stream_secret_names = toset(nonsensitive([for name, value in local.stream_secret_values : name if value != ""]))

  # Each provider whose webhooks the function verifies (its secret is set): the smoke test cannot sign for them.
  verified_providers = sort([for name in local.webhook_secret_names : lower(split("_", name)[0])])

  # make deploy enables the same list before Terraform runs (Makefile, APIS). iam and cloudresourcemanager are
  # off in new projects, and google_service_account / google_project_iam_member call them.
  apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}

data "google_project" "this" {
  depends_on = [google_project_service.enabled]
}

resource "google_project_service" "enabled" {
  for_each = toset(local.apis)

  service            = each.value
  disable_on_destroy = false # other things in the project may use them
}
