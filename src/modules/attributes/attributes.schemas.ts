import { z } from 'zod';
import { cursorParam, limitParam, pageOf } from '../../platform/pagination.ts';
import { timestampOut, uuid } from '../../platform/schemas.ts';

export const ATTRIBUTE_TYPES = ['string', 'number', 'boolean', 'date', 'enum'] as const;
export type AttributeType = (typeof ATTRIBUTE_TYPES)[number];
/** What a definition says of its values: what segments and value checks read. */
export type AttributeShape = { type: AttributeType; values: string[] | null };

const EnumValues = z
  .array(z.string().trim().min(1).max(100))
  .min(1)
  .max(200)
  .refine((v) => new Set(v).size === v.length, 'values must be unique')
  .describe('The allowed values (type `enum` only)');

export const CreateAttributeBody = z
  .strictObject({
    key: z
      .string()
      .regex(/^[a-z][a-zA-Z0-9_]{0,63}$/, 'must start with a lower-case letter; letters, digits and _ only')
      .describe('The key used in `customer.attributes`; immutable'),
    label: z.string().trim().min(1).max(200).describe('Human-readable name'),
    type: z.enum(ATTRIBUTE_TYPES).describe('Value type; immutable'),
    values: EnumValues.optional(),
    description: z.string().max(1000).nullish().describe('What the attribute means'),
  })
  .superRefine((a, ctx) => {
    if (a.type === 'enum' && !a.values) {
      ctx.addIssue({ code: 'custom', path: ['values'], message: 'is required for type enum' });
    }
    if (a.type !== 'enum' && a.values) {
      ctx.addIssue({ code: 'custom', path: ['values'], message: 'is only allowed for type enum' });
    }
  })
  .meta({
    id: 'NewAttribute',
    examples: [
      { key: 'children', label: 'Number of children', type: 'number' },
      { key: 'car', label: 'Car', type: 'enum', values: ['none', 'compact', 'SUV', 'van'] },
    ],
  });
export type CreateAttributeInput = z.output<typeof CreateAttributeBody>;

export const UpdateAttributeBody = z
  .strictObject({
    label: z.string().trim().min(1).max(200).optional().describe('Human-readable name'),
    values: EnumValues.optional().describe(
      'The allowed values; existing values may not be removed while in use',
    ),
    description: z.string().max(1000).nullish().describe('What the attribute means'),
  })
  .meta({
    id: 'AttributePatch',
    examples: [{ label: 'Car type', values: ['none', 'compact', 'SUV', 'van', 'electric'] }],
  });
export type UpdateAttributeInput = z.output<typeof UpdateAttributeBody>;

export const AttributeSchema = z
  .object({
    id: uuid().describe('Definition id'),
    key: z.string().describe('Key in `customer.attributes`'),
    label: z.string().describe('Human-readable name'),
    type: z.enum(ATTRIBUTE_TYPES).describe('Value type'),
    values: z.array(z.string()).nullable().describe('Allowed values (enum)'),
    description: z.string().nullable().describe('What it means'),
    version: z.number().int().describe('Row version (ETag)'),
    createdAt: timestampOut('Created'),
    updatedAt: timestampOut('Last changed'),
  })
  .meta({
    id: 'Attribute',
    examples: [
      {
        id: '01936f0e-a1b2-7c3d-8e4f-5a6b7c8d9e0f',
        key: 'car',
        label: 'Car',
        type: 'enum',
        values: ['none', 'compact', 'SUV', 'van'],
        description: null,
        version: 1,
        createdAt: '2026-01-10T09:30:00.000Z',
        updatedAt: '2026-01-10T09:30:00.000Z',
      },
    ],
  });
export type Attribute = z.infer<typeof AttributeSchema>;

export const ListAttributesQuery = z.strictObject({ limit: limitParam, cursor: cursorParam });
export const AttributePage = pageOf(AttributeSchema).meta({ id: 'AttributePage' });
