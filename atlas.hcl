// Atlas project file for the atlas CLI (built from source: see tools/atlas).
//
// Release pipelines bring a database in line with schema/schema.pg.hcl as the
// migrator role, the only one with DDL rights:
//
//   atlas schema apply --env prod
//
// The URL is built from the same variables the service reads: DB_HOST,
// DB_PORT (default 5432), DB_NAME, DB_SSLMODE (default require),
// DB_SSLROOTCERT (optional), DB_MIGRATOR_USER and DB_MIGRATOR_PASSWORD. The
// URL is scoped to schema "gatehouse" (search_path), so atlas manages that
// schema only. `gatehouse migrate` does the same through the atlas library.

locals {
  // urlescape is form encoding: it writes a space as "+", which a URL's user
  // info and path would read as a literal plus. Every escaped part therefore
  // turns "+" (only ever an escaped space; a real plus becomes %2B) into %20.
  db_user     = regexreplace(urlescape(getenv("DB_MIGRATOR_USER")), "\\+", "%20")
  db_password = regexreplace(urlescape(getenv("DB_MIGRATOR_PASSWORD")), "\\+", "%20")
  db_name     = regexreplace(urlescape(getenv("DB_NAME")), "\\+", "%20")
  db_port     = getenv("DB_PORT") != "" ? getenv("DB_PORT") : "5432"

  // TLS is never optional. An unknown or weak DB_SSLMODE (disable, allow,
  // prefer) is not a key of this map, so evaluating the file fails with
  // "The given key does not identify an element in this collection value".
  db_sslmode = {
    "require"     = "require"
    "verify-ca"   = "verify-ca"
    "verify-full" = "verify-full"
  }[getenv("DB_SSLMODE") != "" ? getenv("DB_SSLMODE") : "require"]
  db_sslrootcert = getenv("DB_SSLROOTCERT") != "" ? "&sslrootcert=${urlescape(getenv("DB_SSLROOTCERT"))}" : ""

  migrator_url = "postgres://${local.db_user}:${local.db_password}@${getenv("DB_HOST")}:${local.db_port}/${local.db_name}?sslmode=${local.db_sslmode}${local.db_sslrootcert}&search_path=gatehouse"
}

// prod is what release pipelines run, as the migrator role.
env "prod" {
  src = "file://schema/schema.pg.hcl"
  url = local.migrator_url
}
