import { z } from 'zod';
import { timestampOut, uuid } from '../../platform/schemas.ts';
import { JOB_STATUSES } from './jobs.table.ts';

export const JobRunSchema = z
  .object({
    id: uuid().describe('Job id'),
    kind: z.string().describe('What the job does, e.g. `scores.recompute`'),
    status: z.enum(JOB_STATUSES).describe('`queued`, `running`, `succeeded` or `failed`'),
    progress: z
      .object({
        step: z.string().describe('The step under way'),
        done: z.number().int().describe('Steps done'),
        total: z.number().int().describe('Steps in all'),
        percent: z.number().int().min(0).max(100).describe('Percent done'),
      })
      .nullable()
      .describe('How far it got (null until it starts)'),
    result: z.record(z.string(), z.unknown()).nullable().describe('What it produced, once succeeded'),
    error: z.string().nullable().describe('Why it failed'),
    createdAt: timestampOut('Requested'),
    startedAt: timestampOut('Started').nullable(),
    finishedAt: timestampOut('Finished').nullable(),
  })
  .meta({
    id: 'JobRun',
    examples: [
      {
        id: '01936f0e-0000-7000-8000-0000000000aa',
        kind: 'scores.recompute',
        status: 'running',
        progress: { step: 'fit', done: 2, total: 5, percent: 40 },
        result: null,
        error: null,
        createdAt: '2026-03-01T03:00:00.000Z',
        startedAt: '2026-03-01T03:00:01.000Z',
        finishedAt: null,
      },
    ],
  });
export type JobRun = z.infer<typeof JobRunSchema>;
