import { DialectMigration } from './dialect-migration.ts';

// The first schema: sessions (one live per tenant), their Yjs update log and snapshots, step
// durations, the outbox and the audit log. The statements are what MikroORM's schema generator emits
// for server/db/entities.ts on each dialect, so migration and entities agree (test/db.test.ts
// checks that no difference remains).
const POSTGRES = `
create table "audit_entry" ("id" bigserial primary key, "tenant_id" varchar(64) not null, "actor_id" varchar(128) not null, "actor_role" varchar(16) not null, "action" varchar(64) not null, "target" varchar(128) not null, "before" jsonb null, "after" jsonb null, "request_id" varchar(64) null, "ip" varchar(64) null, "created_at" timestamptz not null);
create index "audit_entry_tenant_id_created_at_index" on "audit_entry" ("tenant_id", "created_at");
create table "onboarding_session" ("id" varchar(36) not null, "tenant_id" varchar(64) not null, "status" text not null default 'active', "current_step" varchar(64) not null, "steps" jsonb not null, "created_by" varchar(128) not null, "owner_epoch" bigint not null default '0', "created_at" timestamptz not null, "updated_at" timestamptz not null, "last_activity_at" timestamptz not null, "completed_at" timestamptz null, primary key ("id"));
create index "onboarding_session_tenant_id_index" on "onboarding_session" ("tenant_id");
create unique index "onboarding_session_one_live_per_tenant" on "onboarding_session" ("tenant_id") where "status" in ('active', 'paused');
alter table "onboarding_session" add constraint "onboarding_session_status_check" check ("status" in ('active', 'paused', 'completed', 'abandoned'));
create table "outbox_event" ("id" bigserial primary key, "tenant_id" varchar(64) not null, "topic" varchar(128) not null, "type" varchar(128) not null, "payload" jsonb not null, "created_at" timestamptz not null, "published_at" timestamptz null);
create index "outbox_event_published_at_id_index" on "outbox_event" ("published_at", "id");
create index "outbox_event_tenant_id_id_index" on "outbox_event" ("tenant_id", "id");
create table "session_snapshot" ("session_id" varchar(36) not null, "upto_update_id" bigint not null, "state" bytea not null, "created_at" timestamptz not null, primary key ("session_id"));
create table "session_update" ("id" bigserial primary key, "session_id" varchar(36) not null, "epoch" bigint not null, "update" bytea not null, "created_at" timestamptz not null);
create index "session_update_session_id_id_index" on "session_update" ("session_id", "id");
create table "step_duration" ("id" bigserial primary key, "step_id" varchar(64) not null, "minutes" double precision not null, "created_at" timestamptz not null);
create index "step_duration_step_id_id_index" on "step_duration" ("step_id", "id");
`;

const SQLITE = `
create table \`audit_entry\` (\`id\` integer not null primary key autoincrement, \`tenant_id\` text not null, \`actor_id\` text not null, \`actor_role\` text not null, \`action\` text not null, \`target\` text not null, \`before\` json null, \`after\` json null, \`request_id\` text null, \`ip\` text null, \`created_at\` datetime not null);
create index \`audit_entry_tenant_id_created_at_index\` on \`audit_entry\` (\`tenant_id\`, \`created_at\`);
create table \`onboarding_session\` (\`id\` text not null primary key, \`tenant_id\` text not null, \`status\` text check (\`status\` in ('active', 'paused', 'completed', 'abandoned')) not null default 'active', \`current_step\` text not null, \`steps\` json not null, \`created_by\` text not null, \`owner_epoch\` bigint not null default '0', \`created_at\` datetime not null, \`updated_at\` datetime not null, \`last_activity_at\` datetime not null, \`completed_at\` datetime null);
create index \`onboarding_session_tenant_id_index\` on \`onboarding_session\` (\`tenant_id\`);
create unique index \`onboarding_session_one_live_per_tenant\` on \`onboarding_session\` (\`tenant_id\`) where \`status\` in ('active', 'paused');
create table \`outbox_event\` (\`id\` integer not null primary key autoincrement, \`tenant_id\` text not null, \`topic\` text not null, \`type\` text not null, \`payload\` json not null, \`created_at\` datetime not null, \`published_at\` datetime null);
create index \`outbox_event_published_at_id_index\` on \`outbox_event\` (\`published_at\`, \`id\`);
create index \`outbox_event_tenant_id_id_index\` on \`outbox_event\` (\`tenant_id\`, \`id\`);
create table \`session_snapshot\` (\`session_id\` text not null primary key, \`upto_update_id\` bigint not null, \`state\` blob not null, \`created_at\` datetime not null);
create table \`session_update\` (\`id\` integer not null primary key autoincrement, \`session_id\` text not null, \`epoch\` bigint not null, \`update\` blob not null, \`created_at\` datetime not null);
create index \`session_update_session_id_id_index\` on \`session_update\` (\`session_id\`, \`id\`);
create table \`step_duration\` (\`id\` integer not null primary key autoincrement, \`step_id\` text not null, \`minutes\` double not null, \`created_at\` datetime not null);
create index \`step_duration_step_id_id_index\` on \`step_duration\` (\`step_id\`, \`id\`);
`;

export class Migration20261123Initial extends DialectMigration {
  override name = 'Migration20261123_initial';
  protected readonly postgres = POSTGRES;
  protected readonly sqlite = SQLITE;
}
