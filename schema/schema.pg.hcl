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
  //   ORDER BY next_attempt_at ... FOR UPDATE SKIP LOCKED
  // and only pending rows are ever claimed, so the index holds only those.
  index "outbox_due_idx" {
    columns = [column.next_attempt_at]
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
