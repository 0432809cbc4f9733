import { z } from 'zod';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { timestampOut, uuid } from '../../platform/schemas.ts';
import { EmailField, PhoneField } from '../customers/customers.schemas.ts';

export const INTERMEDIARY_KINDS = ['employee', 'prescriber', 'supplier', 'distributor'] as const;

const fields = {
  kind: z.enum(INTERMEDIARY_KINDS).describe('employee, prescriber, supplier or distributor'),
  name: z.string().trim().min(1).max(200).describe('Person or company name'),
  email: EmailField.nullish(),
  phone: PhoneField.nullish(),
  externalId: z.string().trim().min(1).max(200).nullish().describe('Your system’s id; unique per tenant'),
  active: z.boolean().optional().describe('Inactive intermediaries stay for history (default true)'),
};

export const CreateIntermediaryBody = z.strictObject(fields).meta({
  id: 'NewIntermediary',
  examples: [{ kind: 'employee', name: 'Marta Ruiz', email: 'marta@tienda.example', externalId: 'emp-7' }],
});
export type CreateIntermediaryInput = z.output<typeof CreateIntermediaryBody>;

export const UpdateIntermediaryBody = z
  .strictObject({ ...fields, kind: fields.kind.optional(), name: fields.name.optional() })
  .meta({ id: 'IntermediaryPatch', examples: [{ active: false }] });
export type UpdateIntermediaryInput = z.output<typeof UpdateIntermediaryBody>;

export const IntermediarySchema = z
  .object({
    id: uuid().describe('Intermediary id'),
    kind: z.enum(INTERMEDIARY_KINDS).describe('Kind'),
    name: z.string().describe('Name'),
    email: z.string().nullable().describe('Email'),
    phone: z.string().nullable().describe('Phone'),
    externalId: z.string().nullable().describe('Your system’s id'),
    active: z.boolean().describe('Whether it is active'),
    version: z.number().int().describe('Row version; the ETag is `"v<version>"`'),
    createdAt: timestampOut('Created'),
    updatedAt: timestampOut('Last changed'),
  })
  .meta({
    id: 'Intermediary',
    examples: [
      {
        id: '01936f0e-9d3b-7a11-8c22-4d6e7f8a9b0c',
        kind: 'employee',
        name: 'Marta Ruiz',
        email: 'marta@tienda.example',
        phone: null,
        externalId: 'emp-7',
        active: true,
        version: 1,
        createdAt: '2026-01-10T09:30:00.000Z',
        updatedAt: '2026-01-10T09:30:00.000Z',
      },
    ],
  });
export type Intermediary = z.infer<typeof IntermediarySchema>;

export const ListIntermediariesQuery = z.strictObject({
  kind: z.enum(INTERMEDIARY_KINDS).optional().describe('Only this kind'),
  active: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional()
    .describe('Only active (true) or inactive (false)'),
  limit: limitParam,
  cursor: cursorParam,
});
export type ListIntermediariesFilter = Omit<z.output<typeof ListIntermediariesQuery>, 'limit' | 'cursor'>;
export const IntermediaryPage = pageOf(IntermediarySchema).meta({ id: 'IntermediaryPage' });
