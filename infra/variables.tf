variable "project" {
  description = "Google Cloud project ID to deploy into."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project))
    error_message = "project must be a project ID (6-30 lowercase letters, digits and hyphens), not its name or number."
  }
}

variable "region" {
  description = "Region for Cloud Run, the function, Artifact Registry and the bucket."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]{1,2}$", var.region))
    error_message = "region must be a Cloud Run region such as us-central1, europe-west1 or europe-west12."
  }
}

variable "name_prefix" {
  description = "Prefix for every resource name, so several recorders can share a project."
  type        = string
  default     = "callrec"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,13}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-15 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen (it names the Artifact Registry repository)."
  }
}

variable "bucket_name" {
  description = "Name of the recordings bucket (globally unique). Empty: <project>-<name_prefix>-recordings."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 lowercase letters, digits, dots, hyphens or underscores."
  }
}

variable "retention_days" {
  description = "Delete recordings this many days after they were made. 0 keeps them forever."
  type        = number
  default     = 0

  validation {
    condition     = var.retention_days >= 0 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of days, 0 or more."
  }
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key (projects/.../cryptoKeys/...) in the bucket's region to encrypt recordings with (CMEK); Terraform lets Cloud Storage's service agent use it. Empty: Google-managed keys."
  type        = string
  default     = ""

  validation {
    condition     = var.kms_key_name == "" || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be a full key name: projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "versioning" {
  description = "Keep noncurrent versions of recording objects (recordings are never overwritten, so this guards against deletion). With retention_days, a noncurrent version is deleted 7 days after it became noncurrent."
  type        = bool
  default     = false
}

variable "sample_rate" {
  description = "Audio rate asked of Vonage: 8000, 16000 or 24000 Hz (Twilio, SignalWire and Voxology use their own)."
  type        = number
  default     = 16000

  validation {
    condition     = contains([8000, 16000, 24000], var.sample_rate)
    error_message = "sample_rate must be 8000, 16000 or 24000."
  }
}

variable "greeting" {
  description = "Notice spoken before recording starts. Empty: none (check the consent law where you and your callers are)."
  type        = string
  default     = "This call is recorded."

  validation {
    condition     = length(var.greeting) <= 1500
    error_message = "greeting must be at most 1,500 characters (Vonage's talk limit)."
  }
}

variable "forward_to" {
  description = "Twilio/SignalWire: dial this number (E.164) while recording. Empty: take a message."
  type        = string
  default     = ""

  validation {
    condition     = var.forward_to == "" || can(regex("^\\+?[0-9]{3,15}$", var.forward_to))
    error_message = "forward_to must be a phone number in E.164 form, such as +15550100."
  }
}

variable "telnyx_codec" {
  description = "What the TeXML <Stream codec> asks Telnyx to stream: PCMU (mu-law) or PCMA (A-law)."
  type        = string
  default     = "PCMU"

  validation {
    condition     = contains(["PCMU", "PCMA"], var.telnyx_codec)
    error_message = "telnyx_codec must be PCMU or PCMA."
  }
}

variable "allow_unsigned" {
  description = "Providers whose answer webhooks are answered unsigned while another provider's signing key is set (Voxology signs none)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.allow_unsigned : contains(["vonage", "twilio", "voxology", "telnyx", "plivo", "jambonz"], p)])
    error_message = "allow_unsigned may name vonage, twilio, voxology, telnyx, plivo and jambonz."
  }
}

variable "max_call_seconds" {
  description = "Longest call to record. Cloud Run holds a WebSocket for at most 3600 s; the recorder must end the call (and store it) inside that request, so at most 3540."
  type        = number
  default     = 3540

  validation {
    condition     = var.max_call_seconds >= 10 && var.max_call_seconds <= 3540 && floor(var.max_call_seconds) == var.max_call_seconds
    error_message = "max_call_seconds must be a whole number from 10 to 3540: the recorder ends a call 60 s before Cloud Run's 3600 s request timeout cuts it."
  }
}

variable "segment_seconds" {
  description = "Seconds of audio per segment the recorder streams to the bucket while a call is live (SEGMENT_S): at most this much is lost with an instance."
  type        = number
  default     = 10

  validation {
    condition     = var.segment_seconds >= 2 && var.segment_seconds <= 60 && floor(var.segment_seconds) == var.segment_seconds
    error_message = "segment_seconds must be a whole number from 2 to 60."
  }
}

variable "recorder_min_instances" {
  description = "Recorder instances kept warm. 0 scales to zero between calls (the first call waits for a cold start)."
  type        = number
  default     = 0

  validation {
    condition     = var.recorder_min_instances >= 0 && var.recorder_min_instances <= 100
    error_message = "recorder_min_instances must be from 0 to 100."
  }
}

variable "recorder_max_instances" {
  description = "Most recorder instances; with recorder_concurrency, bounds the calls recorded at once."
  type        = number
  default     = 10

  validation {
    condition     = var.recorder_max_instances >= 1 && var.recorder_max_instances <= 1000
    error_message = "recorder_max_instances must be from 1 to 1000."
  }
}

variable "recorder_concurrency" {
  description = "Calls one recorder instance holds at once (MAX_CALLS). The default is what one instance carries at 1 vCPU with headroom (one worker sustains 500); memory and CPU are sized from it."
  type        = number
  default     = 250

  validation {
    condition     = var.recorder_concurrency >= 1 && var.recorder_concurrency <= 1000 && floor(var.recorder_concurrency) == var.recorder_concurrency
    error_message = "recorder_concurrency must be a whole number from 1 to 1000 (Cloud Run's most concurrent requests per instance)."
  }
}

variable "image" {
  description = "Recorder container image. make deploy builds it with Cloud Build and passes <registry>/recorder:<git commit>."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/.+[:@].+$", var.image))
    error_message = "image must be a full image reference with a tag or digest, such as us-central1-docker.pkg.dev/p/r/recorder:abc123."
  }
}

variable "vonage_signature_secret" {
  description = "Vonage account signature secret. Set: the function refuses Vonage webhooks without a valid signed-webhook JWT (401)."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.vonage_signature_secret == "" || length(var.vonage_signature_secret) >= 16
    error_message = "vonage_signature_secret looks too short: copy it from the Vonage dashboard's API settings."
  }
}

variable "twilio_auth_token" {
  description = "Twilio auth token. Set: the function refuses Twilio webhooks whose X-Twilio-Signature does not match (401)."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.twilio_auth_token == "" || can(regex("^[0-9a-f]{32}$", var.twilio_auth_token))
    error_message = "twilio_auth_token is 32 hexadecimal characters (Twilio console, Account info)."
  }
}

variable "signalwire_signing_key" {
  description = "SignalWire Signing Key. Set: the function refuses SignalWire webhooks whose X-SignalWire-Signature does not match (401)."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.signalwire_signing_key == "" || length(var.signalwire_signing_key) >= 16
    error_message = "signalwire_signing_key looks too short: copy it from the SignalWire space's API page."
  }
}

variable "telnyx_public_key" {
  description = "Telnyx account public key (base64 Ed25519). Set: the function refuses Telnyx webhooks whose telnyx-signature-ed25519 does not verify (401)."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.telnyx_public_key == "" || can(regex("^[A-Za-z0-9+/]{43}=$", var.telnyx_public_key))
    error_message = "telnyx_public_key is the 44-character base64 public key from the Telnyx portal (Keys & Credentials, Public Key)."
  }
}

variable "plivo_auth_token" {
  description = "Plivo auth token. Set: the function refuses Plivo webhooks whose X-Plivo-Signature-V3 does not match (401)."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.plivo_auth_token == "" || length(var.plivo_auth_token) >= 16
    error_message = "plivo_auth_token looks too short: copy it from the Plivo console's overview page."
  }
}

variable "audiohook_api_key" {
  description = "API key of the Genesys AudioHook Monitor integration. Set: /ws/audiohook accepts upgrades whose X-API-KEY matches; unset: it accepts none."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.audiohook_api_key == "" || length(var.audiohook_api_key) >= 16
    error_message = "audiohook_api_key looks too short: choose at least 16 characters, and enter the same in the Genesys integration's credentials."
  }
}

variable "audiohook_client_secret" {
  description = "Client secret (base64) of the Genesys AudioHook integration. Set: AudioHook upgrades must carry a valid HTTP message signature made with it."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.audiohook_client_secret == "" || can(base64decode(var.audiohook_client_secret))
    error_message = "audiohook_client_secret is base64, as the Genesys integration's credentials take it."
  }
}

variable "asterisk_username" {
  description = "HTTP Basic username Asterisk's websocket_client.conf presents on /ws/asterisk. With asterisk_password set: that path accepts these credentials; unset: it accepts none."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.asterisk_username == "" || can(regex("^[^:]+$", var.asterisk_username))
    error_message = "asterisk_username must not contain a colon (HTTP Basic, RFC 7617)."
  }
}

variable "asterisk_password" {
  description = "HTTP Basic password for asterisk_username."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.asterisk_password == "" || length(var.asterisk_password) >= 16
    error_message = "asterisk_password looks too short: choose at least 16 characters."
  }
}
