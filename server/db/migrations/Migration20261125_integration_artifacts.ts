import { DialectMigration } from './dialect-migration.ts';

// Integrations keep what their provider produced beside config and secrets (a trained model), and
// inbound messages are deduplicated per tenant (two tenants may connect the same account).
const POSTGRES = `
alter table "integration" add column "artifacts" jsonb null;
alter table "inbound_message" drop constraint "inbound_message_channel_external_id_unique";
alter table "inbound_message" add constraint "inbound_message_tenant_id_channel_external_id_unique" unique ("tenant_id", "channel", "external_id");
`;

const SQLITE = `
alter table \`integration\` add column \`artifacts\` json null;
drop index \`inbound_message_channel_external_id_unique\`;
create unique index \`inbound_message_tenant_id_channel_external_id_unique\` on \`inbound_message\` (\`tenant_id\`, \`channel\`, \`external_id\`);
`;

export class Migration20261125IntegrationArtifacts extends DialectMigration {
  override name = 'Migration20261125_integration_artifacts';
  protected readonly postgres = POSTGRES;
  protected readonly sqlite = SQLITE;
}
