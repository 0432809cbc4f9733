import { z } from 'zod';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { timestampOut, uuid } from '../../platform/schemas.ts';

export const IMPORT_TYPES = ['customers', 'orders'] as const;
export type ImportType = (typeof IMPORT_TYPES)[number];

export const CreateImportQuery = z.strictObject({
  type: z.enum(IMPORT_TYPES).describe('What the rows are'),
});

export const ImportSchema = z
  .object({
    id: uuid().describe('Import id'),
    type: z.enum(IMPORT_TYPES).describe('What the rows are'),
    format: z.enum(['csv', 'ndjson']).describe('The body’s format'),
    status: z
      .enum(['uploading', 'queued', 'running', 'completed', 'failed'])
      .describe('Where it is (`uploading` while its body is still arriving)'),
    bytes: z.number().int().describe('Size of the body'),
    rowsRead: z.number().int().describe('Rows read so far'),
    succeeded: z.number().int().describe('Rows imported (created, updated or already up to date)'),
    failed: z.number().int().describe('Rows refused: see /errors'),
    percentDone: z.number().describe('Share of the body processed, 0–100'),
    rowsPerSecond: z.number().nullable().describe('Throughput since it started'),
    error: z.string().nullable().describe('Why the import as a whole failed'),
    startedAt: z.string().nullable().describe('When a worker started it'),
    finishedAt: z.string().nullable().describe('When it ended'),
    createdAt: timestampOut('Uploaded'),
    createdBy: z
      .string()
      .nullable()
      .describe('Who uploaded it (the token subject); the consent it records names them too'),
  })
  .meta({
    id: 'Import',
    examples: [
      {
        id: '01936f0e-b1b2-7c3d-8e4f-5a6b7c8d9e0f',
        type: 'orders',
        format: 'csv',
        status: 'running',
        bytes: 10485760,
        rowsRead: 42000,
        succeeded: 41987,
        failed: 13,
        percentDone: 41.5,
        rowsPerSecond: 5230,
        error: null,
        startedAt: '2026-03-01T10:00:01.000Z',
        finishedAt: null,
        createdAt: '2026-03-01T10:00:00.000Z',
        createdBy: 'shop-sync',
      },
    ],
  });
export type Import = z.infer<typeof ImportSchema>;

export const ImportErrorSchema = z.object({
  line: z.number().int().describe('Line of the file (the CSV header is line 1)'),
  code: z.string().describe('Error code, as in the API'),
  detail: z.string().describe('What is wrong'),
  errors: z
    .array(z.object({ path: z.string(), message: z.string() }))
    .optional()
    .describe('Failing fields'),
});
export const ListImportErrorsQuery = z.strictObject({ limit: limitParam, cursor: cursorParam });
export const ImportErrorPage = pageOf(ImportErrorSchema).meta({ id: 'ImportErrorPage' });
