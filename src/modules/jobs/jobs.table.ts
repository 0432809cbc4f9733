import { foreignKey, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { tenantId, tenantIsolation } from '../../platform/tenancy.ts';
import { tenants } from '../tenants/tenants.table.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const;

export type JobProgress = { step: string; done: number; total: number };

/** A background job a client asked for (`GET /v1/jobs/:id`): what it is, how far it got, its result. */
export const jobRuns = pgTable(
  'job_runs',
  {
    tenantId: tenantId(),
    id: uuid('id').notNull(),
    kind: text('kind').notNull(),
    status: text('status', { enum: JOB_STATUSES }).notNull(),
    progress: jsonb('progress').$type<JobProgress>(),
    result: jsonb('result').$type<Record<string, unknown>>(),
    error: text('error'),
    requestedBy: text('requested_by'),
    createdAt: at('created_at').notNull().defaultNow(),
    startedAt: at('started_at'),
    finishedAt: at('finished_at'),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    foreignKey({ columns: [t.tenantId], foreignColumns: [tenants.id] }),
    tenantIsolation(),
  ],
);
