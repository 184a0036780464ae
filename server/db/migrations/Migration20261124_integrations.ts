import { DialectMigration } from './dialect-migration.ts';

// Integrations (one per tenant and kind, credentials encrypted) and inbound channel messages. The
// statements are what MikroORM's schema generator emits for these entities on each dialect.
const POSTGRES = `
create table "inbound_message" ("id" bigserial primary key, "tenant_id" varchar(64) not null, "channel" varchar(32) not null, "external_id" varchar(256) not null, "payload" jsonb not null, "received_at" timestamptz not null, "processed_at" timestamptz null);
create index "inbound_message_tenant_id_id_index" on "inbound_message" ("tenant_id", "id");
alter table "inbound_message" add constraint "inbound_message_channel_external_id_unique" unique ("channel", "external_id");
create table "integration" ("id" varchar(36) not null, "tenant_id" varchar(64) not null, "kind" varchar(32) not null, "status" text not null default 'pending', "error_message" text null, "credentials" jsonb null, "credentials_mask" jsonb null, "config" jsonb not null, "health" jsonb null, "owner_epoch" bigint not null default '0', "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));
alter table "integration" add constraint "integration_tenant_id_kind_unique" unique ("tenant_id", "kind");
alter table "integration" add constraint "integration_status_check" check ("status" in ('pending', 'connected', 'error', 'disabled'));
`;

const SQLITE = `
create table \`inbound_message\` (\`id\` integer not null primary key autoincrement, \`tenant_id\` text not null, \`channel\` text not null, \`external_id\` text not null, \`payload\` json not null, \`received_at\` datetime not null, \`processed_at\` datetime null);
create index \`inbound_message_tenant_id_id_index\` on \`inbound_message\` (\`tenant_id\`, \`id\`);
create unique index \`inbound_message_channel_external_id_unique\` on \`inbound_message\` (\`channel\`, \`external_id\`);
create table \`integration\` (\`id\` text not null primary key, \`tenant_id\` text not null, \`kind\` text not null, \`status\` text check (\`status\` in ('pending', 'connected', 'error', 'disabled')) not null default 'pending', \`error_message\` text null, \`credentials\` json null, \`credentials_mask\` json null, \`config\` json not null, \`health\` json null, \`owner_epoch\` bigint not null default '0', \`created_at\` datetime not null, \`updated_at\` datetime not null);
create unique index \`integration_tenant_id_kind_unique\` on \`integration\` (\`tenant_id\`, \`kind\`);
`;

export class Migration20261124Integrations extends DialectMigration {
  override name = 'Migration20261124_integrations';
  protected readonly postgres = POSTGRES;
  protected readonly sqlite = SQLITE;
}
