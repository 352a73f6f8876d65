# One least-privilege service account per service. Each needs the IAM API enabled first.

resource "google_service_account" "recorder" {
  account_id   = "${var.name_prefix}-recorder"
  display_name = "Call recorder (Cloud Run): creates recording objects, manages its own parts"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "function" {
  account_id   = "${var.name_prefix}-webhook"
  display_name = "Call recorder answer function: signs per-call tokens, no storage access"
  depends_on   = [google_project_service.enabled]
}

resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-build"
  display_name = "Call recorder builds (Cloud Build): the function and the recorder image"
  depends_on   = [google_project_service.enabled]
}

# The recorder creates objects anywhere in the bucket: each call's parts under .parts/, and the final WAV, which
# it composes from them with if_generation_match=0 (compose needs create on the result, get on the sources).
resource "google_storage_bucket_iam_member" "recorder_creates_recordings" {
  bucket = google_storage_bucket.recordings.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.recorder.member
}

# Read, replace (the manifest it renews) and delete only its own parts: the condition limits every permission of
# this binding to object names under .parts/, so finished recordings stay out of its reach.
resource "google_storage_bucket_iam_member" "recorder_manages_parts" {
  bucket = google_storage_bucket.recordings.name
  role   = "roles/storage.objectUser"
  member = google_service_account.recorder.member

  condition {
    title       = "recorder-parts-only"
    description = "The recorder's temporary part objects"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.recordings.name}/objects/${local.parts_prefix}\")"
  }
}

# Listing is checked against the bucket, not an object name, so a prefix condition cannot scope it: any recorder
# instance must list .parts/ to find abandoned calls. This role lists names and metadata only, never audio.
resource "google_storage_bucket_iam_member" "recorder_lists_parts" {
  bucket = google_storage_bucket.recordings.name
  role   = "roles/storage.legacyBucketReader"
  member = google_service_account.recorder.member
}

# Only the two services read the signing secret.
resource "google_secret_manager_secret_iam_member" "accessors" {
  for_each = {
    recorder = google_service_account.recorder.member
    function = google_service_account.function.member
  }

  secret_id = google_secret_manager_secret.recorder.id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

# The provider signing secrets, if any, are the function's alone.
resource "google_secret_manager_secret_iam_member" "function_reads_webhook_secrets" {
  for_each  = local.webhook_secret_names
  secret_id = google_secret_manager_secret.webhook[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function.member
}

# Twilio's auth token, if set, is also the recorder's: it checks X-Twilio-Signature on the stream's upgrade.
resource "google_secret_manager_secret_iam_member" "recorder_reads_twilio_token" {
  for_each  = local.recorder_webhook_secret_names
  secret_id = google_secret_manager_secret.webhook[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.recorder.member
}

# The upgrade credentials of AudioHook and Asterisk, if any, are the recorder's alone.
resource "google_secret_manager_secret_iam_member" "recorder_reads_stream_secrets" {
  for_each  = local.stream_secret_names
  secret_id = google_secret_manager_secret.stream[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.recorder.member
}

# What Cloud Build needs, as this account, to build the function's container and the recorder image: write logs
# and images. New projects grant the default build account nothing (README, Prerequisites).
resource "google_project_iam_member" "build" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])

  project = var.project
  role    = each.value
  member  = google_service_account.build.member
}

# Gen2 copies the function's source into the Google-managed bucket gcf-v2-sources-<number>-<region>, and the
# build fetches it from there (provider issue #20571). That bucket does not exist before the first deploy, so
# the grant is project-level, limited by name to those buckets.
resource "google_project_iam_member" "build_reads_function_sources" {
  project = var.project
  role    = "roles/storage.objectViewer"
  member  = google_service_account.build.member

  condition {
    title       = "gcf-v2-sources-only"
    description = "Cloud Functions' own source buckets"
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-\")"
  }
}

# Our sources bucket: the function's zip, and for the recorder image build the staged source it reads and the
# build log it writes (make deploy: --gcs-source-staging-dir, --gcs-log-dir).
resource "google_storage_bucket_iam_member" "build_uses_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.build.member
}

# IAM changes take up to minutes to reach every service; a build or revision started right after its grant
# fails on the first create (provider issue #20571 and its Basic Builder example, which waits 60 s). make deploy
# creates this with the build account before the recorder image build (-target=time_sleep.build_grants).
resource "time_sleep" "build_grants" {
  create_duration = "60s"
  triggers = {
    grants = join(",", concat(
      [for grant in google_project_iam_member.build : grant.id],
      [google_project_iam_member.build_reads_function_sources.id, google_storage_bucket_iam_member.build_uses_sources.id],
    ))
  }
}

# The same for the services' own grants, re-run whenever one changes (a webhook secret added later).
resource "time_sleep" "service_grants" {
  create_duration = "60s"
  triggers = {
    grants = join(",", concat(
      [for grant in google_secret_manager_secret_iam_member.accessors : grant.id],
      [for grant in google_secret_manager_secret_iam_member.function_reads_webhook_secrets : grant.id],
      [for grant in google_secret_manager_secret_iam_member.recorder_reads_stream_secrets : grant.id],
      [for grant in google_secret_manager_secret_iam_member.recorder_reads_twilio_token : grant.id],
      [
        google_storage_bucket_iam_member.recorder_creates_recordings.id,
        google_storage_bucket_iam_member.recorder_manages_parts.id,
        google_storage_bucket_iam_member.recorder_lists_parts.id,
      ],
    ))
  }
}

# The function is public: phone providers call it from the internet without Google credentials, and it only
# issues tokens for the call it is asked about. A gen2 function runs as a Cloud Run service of the same name; the
# function IAM resources reject this role. Under Domain Restricted Sharing (iam.allowedPolicyMemberDomains) this
# binding is refused: README, Prerequisites, has the fix. The recorder needs no binding (invoker_iam_disabled).
resource "google_cloud_run_v2_service_iam_member" "function_public" {
  location = google_cloudfunctions2_function.webhook.location
  name     = google_cloudfunctions2_function.webhook.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
