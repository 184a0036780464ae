// A migration written as one SQL script per dialect (what MikroORM's schema generator emits for the
// entities on each), applied statement by statement.
import { Migration } from '@mikro-orm/migrations';
import { PostgreSqlPlatform } from '@mikro-orm/postgresql';

export abstract class DialectMigration extends Migration {
  protected abstract readonly postgres: string;
  protected abstract readonly sqlite: string;

  override up(): void {
    const script = this.driver.getPlatform() instanceof PostgreSqlPlatform ? this.postgres : this.sqlite;
    for (const statement of script.split(';\n').map((s) => s.trim()).filter(Boolean)) {
      this.addSql(statement);
    }
  }
}
