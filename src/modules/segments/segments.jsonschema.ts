import {
  ACTIVITY,
  type AttributeTypes,
  BOOLEAN_FILTERS,
  FIELDS,
  type FieldSpec,
  OPERATORS,
} from './segments.fields.ts';
import { NUMBER_TESTS, SEGMENT_LIMITS } from './segments.language.ts';

type Json = Record<string, unknown>;

const DURATION = {
  type: 'string',
  pattern: '^P(?!$)(\\d+Y)?(\\d+M)?(\\d+W)?(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+S)?)?$',
};

function scalar(spec: FieldSpec): Json {
  switch (spec.type) {
    case 'string':
    case 'tags':
      return { type: 'string', maxLength: SEGMENT_LIMITS.stringLength };
    case 'enum':
      return { type: 'string', enum: spec.values };
    case 'number':
      return { type: 'number' };
    case 'integer':
      return { type: 'integer' };
    case 'boolean':
      return { type: 'boolean' };
    case 'timestamp':
      // a time, or a plain date (that whole day in the tenant's calendar)
      return { type: 'string', anyOf: [{ format: 'date-time' }, { format: 'date' }] };
    case 'date':
      return { type: 'string', format: 'date' };
    default:
      return { type: 'string', format: 'uuid' };
  }
}

function valueFor(spec: FieldSpec, op: string): Json {
  const one = scalar(spec);
  switch (op) {
    case 'exists':
      return { type: 'boolean', default: true };
    case 'within':
    case 'before':
    case 'after':
      return DURATION;
    case 'in':
    case 'nin':
      return { type: 'array', items: one, minItems: 1, maxItems: SEGMENT_LIMITS.values };
    case 'between':
      return { type: 'array', items: one, minItems: 2, maxItems: 2 };
    default:
      return one;
  }
}

/** At the root, a node carries the language's `version` beside its own members. */
const VERSION = { version: { const: 1 } };
const atRoot = (node: Json): Json => ({
  ...node,
  properties: { ...(node.properties as Json), ...VERSION },
});

function condition(name: string, spec: FieldSpec, root: boolean): Json {
  return {
    description: spec.description,
    anyOf: OPERATORS[spec.type].map((op) => {
      const node = {
        type: 'object',
        properties: { field: { const: name }, op: { const: op }, value: valueFor(spec, op) },
        required: op === 'exists' ? ['field', 'op'] : ['field', 'op', 'value'],
        additionalProperties: false,
      };
      return root ? atRoot(node) : node;
    }),
  };
}

/** The segment language as a JSON Schema (draft 2020-12), with the tenant's custom attributes. */
export function segmentJsonSchema(attributes: AttributeTypes): Json {
  const fields: [string, FieldSpec][] = [
    ...Object.entries(FIELDS),
    ...[...attributes].map(([key, d]): [string, FieldSpec] => [
      `attributes.${key}`,
      {
        type: d.type === 'enum' ? 'enum' : d.type,
        description: `Custom attribute ${key} (${d.type})`,
        ...(d.values ? { values: d.values } : {}),
        source: { expr: 'attribute', key },
      },
    ]),
  ];
  const numberTest = {
    type: 'object',
    properties: Object.fromEntries(NUMBER_TESTS.map((t) => [t, { type: 'number' }])),
    additionalProperties: false,
    minProperties: 1,
  };
  const activities = Object.entries(ACTIVITY).map(([kind, { where, measures }]) => ({
    type: 'object',
    properties: {
      [kind]: {
        type: 'object',
        properties: {
          within: DURATION,
          where: {
            type: 'object',
            properties: Object.fromEntries(
              where.map((w) => [
                w,
                BOOLEAN_FILTERS.has(w)
                  ? { type: 'boolean' }
                  : {
                      anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }],
                    },
              ]),
            ),
            additionalProperties: false,
          },
          ...Object.fromEntries(measures.map((m) => [m, { $ref: '#/$defs/numberTest' }])),
        },
        additionalProperties: false,
      },
    },
    required: [kind],
    additionalProperties: false,
  }));
  // all / any / not: their other members are not checked, so `version` passes at the root
  const branches = [
    {
      type: 'object',
      properties: { all: { type: 'array', items: { $ref: '#/$defs/node' } } },
      required: ['all'],
    },
    {
      type: 'object',
      properties: { any: { type: 'array', items: { $ref: '#/$defs/node' } } },
      required: ['any'],
    },
    { type: 'object', properties: { not: { $ref: '#/$defs/node' } }, required: ['not'] },
  ];
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://vinculo.dev/schemas/segment-definition/v1',
    title: 'Vínculo segment definition, version 1',
    description: `Nodes nest up to ${SEGMENT_LIMITS.depth} levels, with at most ${SEGMENT_LIMITS.conditions} conditions and activity nodes in all.`,
    allOf: [
      {
        anyOf: [...branches, { $ref: '#/$defs/rootCondition' }, ...activities.map(atRoot)],
      },
      { type: 'object', properties: VERSION, required: ['version'] },
    ],
    $defs: {
      numberTest,
      node: { anyOf: [...branches, { $ref: '#/$defs/condition' }, ...activities] },
      condition: { anyOf: fields.map(([name, spec]) => condition(name, spec, false)) },
      rootCondition: { anyOf: fields.map(([name, spec]) => condition(name, spec, true)) },
    },
  };
}
