import {
  bigint,
  customType,
  foreignKey,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation, timestamps } from '../../platform/tenancy.ts';
import { tenants } from '../tenants/tenants.table.ts';

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });
const at = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

/** A bulk import: its body is kept in chunks until a worker has processed it. */
export const imports = pgTable(
  'imports',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    type: text('type', { enum: ['customers', 'orders'] }).notNull(),
    format: text('format', { enum: ['csv', 'ndjson'] }).notNull(),
    // uploading: its body is still arriving, one committed chunk at a time
    status: text('status', { enum: ['uploading', 'queued', 'running', 'completed', 'failed'] }).notNull(),
    bytes: bigint('bytes', { mode: 'number' }).notNull(),
    bytesRead: bigint('bytes_read', { mode: 'number' }).notNull().default(0),
    rowsRead: integer('rows_read').notNull().default(0),
    // the line of the last row written, in the same transaction as its batch: a retry resumes after it
    lastLine: integer('last_line').notNull().default(0),
    succeeded: integer('succeeded').notNull().default(0),
    failed: integer('failed').notNull().default(0),
    error: text('error'),
    // how many times the sweep has resumed it after it stopped making progress (a worker killed)
    resumes: integer('resumes').notNull().default(0),
    // the uploading client (the token subject): what the import writes is recorded as theirs
    createdBy: text('created_by'),
    startedAt: at('started_at'),
    finishedAt: at('finished_at'),
    ...timestamps(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    foreignKey({ columns: [t.tenantId], foreignColumns: [tenants.id] }),
    tenantIsolation(),
  ],
);

export const importChunks = pgTable(
  'import_chunks',
  {
    tenantId: tenantId(),
    importId: uuid('import_id').notNull(),
    seq: integer('seq').notNull(),
    data: bytea('data').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.importId, t.seq] }),
    foreignKey({
      columns: [t.tenantId, t.importId],
      foreignColumns: [imports.tenantId, imports.id],
    }).onDelete('cascade'),
    tenantIsolation(),
  ],
);

/** Each row an import could not take, with its line number and problem. */
export const importErrors = pgTable(
  'import_errors',
  {
    tenantId: tenantId(),
    importId: uuid('import_id').notNull(),
    line: integer('line').notNull(),
    problem: jsonb('problem')
      .$type<{ code: string; detail: string; errors?: { path: string; message: string }[] }>()
      .notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.importId, t.line] }),
    foreignKey({
      columns: [t.tenantId, t.importId],
      foreignColumns: [imports.tenantId, imports.id],
    }).onDelete('cascade'),
    tenantIsolation(),
  ],
);
