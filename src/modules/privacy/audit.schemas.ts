import { z } from 'zod';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { isoDateTime, periodInOrder, timestampOut, uuid } from '../../platform/schemas.ts';

export const AUDIT_KINDS = ['write', 'read', 'export', 'erasure', 'auth_failure'] as const;

export const AuditEntrySchema = z
  .object({
    id: uuid().describe('Entry id (time-ordered)'),
    at: timestampOut('When the request finished'),
    actor: z.string().nullable().describe('The token subject (`sub`)'),
    kind: z
      .enum(AUDIT_KINDS)
      .describe('write, read (a partner token), export, erasure, auth_failure (401 or 403)'),
    action: z
      .string()
      .describe('Method and route (`PATCH /v1/customers/:id`) or `graphql mutation <fields>`'),
    resource: z.string().nullable().describe('The id in the route, if any'),
    status: z.number().int().describe('The HTTP status answered'),
    requestId: z.string().describe('The request id (the `requestId` of problem+json answers)'),
  })
  .meta({ id: 'AuditEntry' });
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

export const ListAuditQuery = z
  .strictObject({
    actor: z.string().max(200).optional().describe('Only this token subject'),
    kind: z.enum(AUDIT_KINDS).optional().describe('Only this kind'),
    action: z
      .string()
      .max(200)
      .optional()
      .describe('Only actions starting with this, e.g. `DELETE /v1/customers`'),
    resource: z.string().max(200).optional().describe('Only this resource id'),
    from: isoDateTime().optional().describe('From this time'),
    to: isoDateTime().optional().describe('Up to this time'),
    limit: limitParam,
    cursor: cursorParam,
  })
  .refine(...periodInOrder);
export type ListAuditQueryInput = z.infer<typeof ListAuditQuery>;
export const AuditPage = pageOf(AuditEntrySchema).meta({ id: 'AuditPage' });
