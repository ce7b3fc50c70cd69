-- gatehouse role bootstrap: run once per database, by an administrator.
--
-- It creates the two login roles the seed asks for and fixes what each may do:
--   * the migrator owns schema "gatehouse" and is the only role with DDL there;
--   * the app role may read and write rows in gatehouse's tables and use its
--     sequences, and nothing else: no CREATE anywhere, no TEMP, no DDL.
-- The app role's table privileges come from ALTER DEFAULT PRIVILEGES FOR ROLE
-- <migrator>, so every table the migrator creates later is covered without
-- another grant.
--
-- Run it as a superuser (on a managed service: a role that may create roles
-- and is a member of the migrator role), connected to the target database:
--
--   psql "host=db.example.com dbname=gatehouse user=postgres sslmode=require" \
--     -v ON_ERROR_STOP=1 \
--     -v migrator_user=gatehouse_migrator -v migrator_password='...' \
--     -v app_user=gatehouse_app -v app_password='...' \
--     -v db_name=gatehouse \
--     -f schema/roles.sql
--
-- db_name must name the database psql is connected to (the script checks).
-- The database itself must exist; create it first if needed
-- (CREATE DATABASE gatehouse;). Then apply the schema as the migrator:
-- `gatehouse migrate` or `atlas schema apply --env prod`.
--
-- CREATE ROLE fails when a role already exists: this is a one-time bootstrap.
-- The passwords travel to the server inside the statements, so do not run it
-- with statement logging on. Variables are only ever interpolated as quoted
-- identifiers (:"name") or quoted literals (:'name'), so any character is safe
-- in a name or password.
--
-- The file has three sections, each opened by a "-- section: NAME" line.
-- Programs that run it without psql (schema.RenderRoles) use the markers;
-- keep them. The "database" section holds the grants stored in pg_database,
-- which CREATE DATABASE ... TEMPLATE does not copy: re-apply that section to
-- every database cloned from a bootstrapped one. The "schema" section lives in
-- the database's own catalogs and is copied by cloning.

\set ON_ERROR_STOP on

-- section: roles
-- Cluster-wide: the two login roles. Neither is a superuser, neither may
-- create databases or roles, and neither can bypass row security.
CREATE ROLE :"migrator_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'migrator_password';
CREATE ROLE :"app_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'app_password';

-- section: database
-- Database-level privileges (stored in pg_database; re-apply on a clone).
-- PUBLIC loses its default CONNECT and TEMP; the two roles get CONNECT only,
-- so neither may create schemas or temporary tables.
REVOKE ALL ON DATABASE :"db_name" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db_name" TO :"migrator_user", :"app_user";

-- section: schema
-- Inside the target database (copied by CREATE DATABASE ... TEMPLATE).
-- Fail early when psql is connected to another database than db_name: the
-- cast turns the mismatch into an error that names the expected database.
SELECT CASE WHEN current_database() <> :'db_name'
  THEN ('roles.sql must run connected to database ' || :'db_name' || ', not ' || current_database())::int
END AS connected_to_target;

-- Nobody but the owner may create objects in schema public (PostgreSQL 15
-- already revokes CREATE; this also removes PUBLIC's USAGE).
REVOKE ALL ON SCHEMA public FROM PUBLIC;

-- The migrator owns schema gatehouse and therefore everything in it.
CREATE SCHEMA gatehouse AUTHORIZATION :"migrator_user";
REVOKE ALL ON SCHEMA gatehouse FROM PUBLIC;
GRANT USAGE ON SCHEMA gatehouse TO :"app_user";

-- Rows and sequences, never structure: applies to every table and sequence
-- the migrator creates in gatehouse from now on.
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrator_user" IN SCHEMA gatehouse
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrator_user" IN SCHEMA gatehouse
  GRANT USAGE, SELECT ON SEQUENCES TO :"app_user";
