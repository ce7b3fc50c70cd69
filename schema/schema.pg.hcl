// gatehouse's tables, declared in Atlas HCL: the one source of truth for the
// database. `gatehouse migrate` (the atlas library) and
// `atlas schema apply --env prod` (the atlas CLI, see atlas.hcl) both bring a
// database in line with this file, and the service refuses to start while the
// live schema differs from it.
//
// Write types, defaults and expressions the way PostgreSQL reports them back
// (timestamptz, integer, 'x'::text, (a = ANY (ARRAY[...]))): the service
// compares this file with the live schema without a dev database to normalise
// it, so anything written differently would show up as drift forever.
//
// The schema itself is created by roles.sql (owned by the migrator role);
// every table here is therefore owned by the migrator, and the app role gets
// row privileges on it through default privileges.

schema "gatehouse" {}

table "users" {
  schema  = schema.gatehouse
  comment = "Accounts. email is stored normalised (lower-case), so uniqueness is case-insensitive."
  column "id" {
    null = false
    type = uuid
  }
  column "email" {
    null = false
    type = text
  }
  column "password_hash" {
    null = false
    type = text
  }
  column "email_verified_at" {
    null = true
    type = timestamptz
  }
  column "created_at" {
    null    = false
    type    = timestamptz
    default = sql("now()")
  }
  column "updated_at" {
    null    = false
    type    = timestamptz
    default = sql("now()")
  }
  primary_key {
    columns = [column.id]
  }
  index "users_email_key" {
    unique  = true
    columns = [column.email]
  }
  check "users_email_normalised" {
    expr = "(email = lower(email))"
  }
}

table "outbox" {
  schema  = schema.gatehouse
  comment = "Mail and domain events written in the same transaction as the change that causes them; a dispatcher delivers them at least once."
  column "id" {
    null = false
    type = uuid
  }
  column "kind" {
    null = false
    type = text
  }
  column "topic" {
    null    = false
    type    = text
    comment = "mail: the template name; event: the event type (e.g. user.registered)."
  }
  column "payload" {
    null = false
    type = jsonb
  }
  column "status" {
    null    = false
    type    = text
    default = "pending"
  }
  column "attempts" {
    null    = false
    type    = integer
    default = 0
  }
  column "next_attempt_at" {
    null    = false
    type    = timestamptz
    default = sql("now()")
  }
  column "locked_until" {
    null = true
    type = timestamptz
  }
  column "last_error" {
    null = true
    type = text
  }
  column "created_at" {
    null    = false
    type    = timestamptz
    default = sql("now()")
  }
  column "sent_at" {
    null = true
    type = timestamptz
  }
  primary_key {
    columns = [column.id]
  }
  // The dispatcher claims due rows with
  //   WHERE status = 'pending' AND next_attempt_at <= now()
  //   ORDER BY next_attempt_at, id ... FOR UPDATE SKIP LOCKED
  // and only pending rows are ever claimed, so the index holds only those.
  // id is in it so that rows sharing a due time (a bulk enqueue, a backlog)
  // come out of the index in claim order instead of being sorted each time.
  index "outbox_due_idx" {
    columns = [column.next_attempt_at, column.id]
    where   = "(status = 'pending'::text)"
  }
  check "outbox_kind_check" {
    expr = "(kind = ANY (ARRAY['mail'::text, 'event'::text]))"
  }
  check "outbox_status_check" {
    expr = "(status = ANY (ARRAY['pending'::text, 'sent'::text, 'dead'::text]))"
  }
  check "outbox_attempts_check" {
    expr = "(attempts >= 0)"
  }
}

table "sessions" {
  schema  = schema.gatehouse
  comment = "Signed-in sessions. Only the SHA-256 of the token the client holds is stored; every authenticated request looks a session up by it."
  column "id" {
    null = false
    type = uuid
  }
  column "user_id" {
    null = false
    type = uuid
  }
  column "token_hash" {
    null = false
    type = bytea
  }
  column "created_at" {
    null = false
    type = timestamptz
  }
  column "last_seen_at" {
    null    = false
    type    = timestamptz
    comment = "Written at most once per touch interval, not on every request."
  }
  column "expires_at" {
    null    = false
    type    = timestamptz
    comment = "The absolute deadline, fixed at sign-in."
  }
  primary_key {
    columns = [column.id]
  }
  foreign_key "sessions_user_id_fkey" {
    columns     = [column.user_id]
    ref_columns = [table.users.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
  index "sessions_token_hash_key" {
    unique  = true
    columns = [column.token_hash]
  }
  // Sign-out everywhere and password changes delete a user's sessions; the
  // cascade from users needs it too.
  index "sessions_user_id_idx" {
    columns = [column.user_id]
  }
  // Store.PurgeExpired deletes sessions past their absolute deadline, a
  // batch at a time.
  index "sessions_expires_at_idx" {
    columns = [column.expires_at]
  }
  check "sessions_token_hash_check" {
    expr = "(length(token_hash) = 32)"
  }
}

table "one_time_tokens" {
  schema  = schema.gatehouse
  comment = "Email verification and password reset tokens, by SHA-256 only. A token is spent by setting used_at, at most once, before expires_at."
  column "id" {
    null = false
    type = uuid
  }
  column "user_id" {
    null = false
    type = uuid
  }
  column "purpose" {
    null = false
    type = text
  }
  column "token_hash" {
    null = false
    type = bytea
  }
  column "expires_at" {
    null = false
    type = timestamptz
  }
  column "used_at" {
    null    = true
    type    = timestamptz
    comment = "Set when the token is used, or when a newer token for the same purpose voids it."
  }
  column "created_at" {
    null = false
    type = timestamptz
  }
  primary_key {
    columns = [column.id]
  }
  foreign_key "one_time_tokens_user_id_fkey" {
    columns     = [column.user_id]
    ref_columns = [table.users.column.id]
    on_update   = NO_ACTION
    on_delete   = CASCADE
  }
  index "one_time_tokens_token_hash_key" {
    unique  = true
    columns = [column.token_hash]
  }
  // Issuing a token voids the user's older unused ones for that purpose
  // (user_id and purpose); the cascade from users uses the same index, which
  // is why it is not partial on used_at IS NULL.
  index "one_time_tokens_user_id_purpose_idx" {
    columns = [column.user_id, column.purpose]
  }
  // A token is dead from the earlier of its use and its expiry (LEAST skips
  // a NULL used_at); Store.PurgeExpired deletes those dead for a day, a
  // batch at a time, through this index.
  index "one_time_tokens_dead_at_idx" {
    on {
      expr = "LEAST(used_at, expires_at)"
    }
  }
  check "one_time_tokens_purpose_check" {
    expr = "(purpose = ANY (ARRAY['verify_email'::text, 'password_reset'::text]))"
  }
  check "one_time_tokens_token_hash_check" {
    expr = "(length(token_hash) = 32)"
  }
}

table "rate_limits" {
  schema  = schema.gatehouse
  comment = "Fixed-window attempt counters shared by every replica: one row per key and window, counted up by a single upsert."
  column "key" {
    null = false
    type = text
  }
  column "window_start" {
    null = false
    type = timestamptz
  }
  column "count" {
    null = false
    type = integer
  }
  column "expires_at" {
    null    = false
    type    = timestamptz
    comment = "The end of the window: the row is useless from then on and may be deleted."
  }
  primary_key {
    columns = [column.key, column.window_start]
  }
  // Expired windows are deleted in small batches by the limiter itself (one
  // call in many) through this index.
  index "rate_limits_expires_at_idx" {
    columns = [column.expires_at]
  }
  check "rate_limits_count_check" {
    expr = "(count > 0)"
  }
}

table "uploads" {
  schema  = schema.gatehouse
  comment = "Files users upload, scanned before they are accepted. A deleted upload keeps its row (status deleted), so a late scan verdict is still recognised and its object key is never reused."
  column "id" {
    null = false
    type = uuid
  }
  column "owner_id" {
    null = false
    type = uuid
  }
  column "bucket" {
    null = false
    type = text
  }
  column "key" {
    null    = false
    type    = text
    comment = "The quarantine object's key, generated by the server; scan verdicts name it."
  }
  column "filename" {
    null    = false
    type    = text
    comment = "The sanitised display name; storage never uses it."
  }
  column "content_type" {
    null = false
    type = text
  }
  column "size_bytes" {
    null = false
    type = bigint
  }
  column "sha256" {
    null    = true
    type    = text
    comment = "The checksum the client declared, lower-case hex; NULL when none was."
  }
  column "status" {
    null = false
    type = text
  }
  column "version_id" {
    null    = true
    type    = text
    comment = "The object version recorded at complete; NULL before, and for an unversioned object."
  }
  column "etag" {
    null    = true
    type    = text
    comment = "The ETag (without quotes) recorded at complete; NULL before."
  }
  column "completed_at" {
    null = true
    type = timestamptz
  }
  column "verdict" {
    null    = true
    type    = jsonb
    comment = "The scanner's verdict the upload was matched to, as the scanner gave it (bucket, key, version, ETag, statuses, threats, reasons)."
  }
  column "scan_result" {
    null    = true
    type    = text
    comment = "What the user is shown about the scan: the scan_ columns are all NULL until the upload is settled, and scan_completed_at is set from then on."
  }
  column "scan_code" {
    null = true
    type = text
  }
  column "scan_reason" {
    null = true
    type = text
  }
  column "scan_threats" {
    null = true
    type = sql("text[]")
  }
  column "scan_completed_at" {
    null = true
    type = timestamptz
  }
  column "created_at" {
    null = false
    type = timestamptz
  }
  column "updated_at" {
    null = false
    type = timestamptz
  }
  primary_key {
    columns = [column.id]
  }
  // No cascade: deleting an account must first remove its objects, which
  // only the rows locate.
  foreign_key "uploads_owner_id_fkey" {
    columns     = [column.owner_id]
    ref_columns = [table.users.column.id]
    on_update   = NO_ACTION
    on_delete   = NO_ACTION
  }
  // Scan verdicts name objects, not uploads (UploadByObject), and no two
  // uploads may share an object.
  index "uploads_bucket_key_key" {
    unique  = true
    columns = [column.bucket, column.key]
  }
  // An owner's list, newest first, paged by keyset:
  //   WHERE owner_id = $1 AND (created_at, id) < ($2, $3)
  //   ORDER BY created_at DESC, id DESC LIMIT n
  // is one range scan of this index; it also serves the foreign key.
  index "uploads_owner_id_created_at_id_idx" {
    on {
      column = column.owner_id
    }
    on {
      column = column.created_at
      desc   = true
    }
    on {
      column = column.id
      desc   = true
    }
  }
  // The reconciler's StaleUploads: WHERE status = $1 AND updated_at < $2
  // ORDER BY updated_at, id LIMIT n, without a sort.
  index "uploads_status_updated_at_id_idx" {
    columns = [column.status, column.updated_at, column.id]
  }
  check "uploads_status_check" {
    expr = "(status = ANY (ARRAY['pending'::text, 'scanning'::text, 'accepted'::text, 'rejected'::text, 'failed'::text, 'expired'::text, 'deleted'::text]))"
  }
  check "uploads_size_bytes_check" {
    expr = "(size_bytes > 0)"
  }
  check "uploads_sha256_check" {
    expr = "(sha256 ~ '^[0-9a-f]{64}$'::text)"
  }
  check "uploads_scan_check" {
    expr = "((scan_completed_at IS NOT NULL) OR ((scan_result IS NULL) AND (scan_code IS NULL) AND (scan_reason IS NULL) AND (scan_threats IS NULL)))"
  }
}
