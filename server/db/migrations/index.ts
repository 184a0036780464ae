// Migrations are listed explicitly (no file globbing), so they load the same way from source,
// tests and containers. Append new ones; never edit one that has shipped.
import { Migration20261123Initial } from './Migration20261123_initial.ts';
import { Migration20261124Integrations } from './Migration20261124_integrations.ts';
import { Migration20261125IntegrationArtifacts } from './Migration20261125_integration_artifacts.ts';

export const migrations = [Migration20261123Initial, Migration20261124Integrations, Migration20261125IntegrationArtifacts];
