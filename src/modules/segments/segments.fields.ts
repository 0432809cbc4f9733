import type { AttributeShape } from '../attributes/attributes.schemas.ts';
import { RFM_CELLS } from '../scores/scores.rfm.ts';

/**
 * The catalogue of fields a segment condition can name: each with its type (which decides the
 * operators and the value) and where it lives. The validator, the JSON Schema and the SQL compiler
 * all read this one list.
 */
export type FieldType =
  | 'string'
  | 'enum'
  | 'number'
  | 'integer'
  | 'boolean'
  | 'timestamp'
  | 'date'
  | 'tags'
  | 'uuid'
  | 'segment'
  | 'birthday';

/** Where a field's value comes from: a customers column, a scores or aggregates column, or an expression. */
export type FieldSource =
  | { table: 'c' | 's' | 'a'; column: string }
  | {
      expr: 'age' | 'consent' | 'attribute' | 'churnRisk' | 'lastNps' | 'meanGap' | 'birthday' | 'segment';
      key?: string;
    };

export type FieldSpec = {
  type: FieldType;
  description: string;
  values?: readonly string[];
  source: FieldSource;
};

export const OPERATORS: Record<FieldType, readonly string[]> = {
  string: ['eq', 'neq', 'in', 'nin', 'contains', 'startsWith', 'exists'],
  enum: ['eq', 'neq', 'in', 'nin', 'exists'],
  number: ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'between', 'exists'],
  integer: ['eq', 'neq', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'between', 'exists'],
  boolean: ['eq', 'exists'],
  timestamp: ['gt', 'gte', 'lt', 'lte', 'between', 'within', 'before', 'after', 'exists'],
  date: ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'between', 'within', 'before', 'after', 'exists'],
  tags: ['contains', 'in', 'nin', 'exists'],
  uuid: ['eq', 'neq', 'in', 'nin', 'exists'],
  segment: ['eq', 'neq', 'in', 'nin'],
  birthday: ['within'],
};

const STATUSES = ['potential', 'active', 'at_risk', 'inactive'] as const;
const PHASES = ['acquisition', 'retention', 'recovery'] as const;
const TIERS = ['vip', 'gold', 'silver', 'bronze'] as const;
export const CONSENT_CHANNELS = ['email', 'sms', 'phone', 'mail', 'partnerSharing'] as const;

const c = (column: string) => ({ table: 'c', column }) as const;
const s = (column: string) => ({ table: 's', column }) as const;
const a = (column: string) => ({ table: 'a', column }) as const;

const text = (column: string, description: string): FieldSpec => ({
  type: 'string',
  description,
  source: c(column),
});

/**
 * The fields that can single a person out (contact details, birth date and what reveals it, city and
 * postal code), masked in every read without `customers:pii`: a condition on one needs that scope
 * too, or counts and samples would tell them one guess at a time. Country and region stay open to
 * every segment writer: markets are what segments are made of, and they name no one.
 */
const PERSONAL_FIELDS: ReadonlySet<string> = new Set([
  'email',
  'phone',
  'birthDate',
  'age',
  'birthday',
  'city',
  'postalCode',
]);

/** The personal fields a definition's conditions name, at any depth. */
export function personalFieldsIn(definition: unknown): string[] {
  const found = new Set<string>();
  const walk = (node: unknown) => {
    if (Array.isArray(node)) for (const n of node) walk(n);
    else if (node && typeof node === 'object') {
      const field = (node as { field?: unknown }).field;
      if (typeof field === 'string' && PERSONAL_FIELDS.has(field)) found.add(field);
      for (const v of Object.values(node)) walk(v);
    }
  };
  walk(definition);
  return [...found];
}

const HIDDEN = '[hidden: needs customers:pii]';

/** A definition as a reader without `customers:pii` sees it: the personal conditions' values hidden. */
export function withoutPersonalValues(definition: unknown): unknown {
  if (Array.isArray(definition)) return definition.map(withoutPersonalValues);
  if (!definition || typeof definition !== 'object') return definition;
  const node = definition as Record<string, unknown>;
  const copy = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, withoutPersonalValues(v)]));
  if (typeof node.field === 'string' && PERSONAL_FIELDS.has(node.field) && 'value' in node)
    copy.value = HIDDEN;
  return copy;
}

export const FIELDS: Record<string, FieldSpec> = {
  externalId: text('external_id', 'The id in the tenant’s own system'),
  firstName: text('first_name', 'First name'),
  lastName: text('last_name', 'Last name'),
  email: text('email', 'Email (stored lower-cased)'),
  phone: text('phone', 'Phone'),
  locale: text('locale', 'Locale, e.g. es-ES'),
  country: text('country', 'Country (ISO 3166-1 alpha-2)'),
  region: text('region', 'Region or province'),
  city: text('city', 'City'),
  postalCode: text('postal_code', 'Postal code'),
  source: text('source', 'Where the customer came from'),
  tags: { type: 'tags', description: 'Tags', source: c('tags') },
  status: { type: 'enum', values: STATUSES, description: 'Behavioural status', source: c('status') },
  lifecyclePhase: {
    type: 'enum',
    values: PHASES,
    description: 'Lifecycle phase',
    source: c('lifecycle_phase'),
  },
  createdAt: {
    type: 'timestamp',
    description: 'When the customer was created (seniority)',
    source: c('created_at'),
  },
  birthDate: { type: 'date', description: 'Birth date', source: c('birth_date') },
  age: { type: 'integer', description: 'Age in whole years, today', source: { expr: 'age' } },
  birthday: {
    type: 'birthday',
    description: 'Birthday within the next N days (`within`, e.g. P7D; today counts)',
    source: { expr: 'birthday' },
  },
  referredByCustomerId: {
    type: 'uuid',
    description: 'Referred by this customer',
    source: c('referred_by_customer_id'),
  },
  referredByIntermediaryId: {
    type: 'uuid',
    description: 'Referred by this intermediary (prescriber, employee…)',
    source: c('referred_by_intermediary_id'),
  },
  accountManagerId: {
    type: 'uuid',
    description: 'Account manager (an intermediary)',
    source: c('account_manager_id'),
  },
  segment: {
    type: 'segment',
    description: 'Membership of another segment (eq/in: a member; neq/nin: not a member)',
    source: { expr: 'segment' },
  },
  'purchases.orders': { type: 'integer', description: 'Orders, not cancelled (live)', source: a('orders') },
  'purchases.netRevenue': {
    type: 'integer',
    description: 'Net revenue in minor units of the tenant currency (live)',
    source: a('net_revenue'),
  },
  'purchases.firstOrderAt': {
    type: 'timestamp',
    description: 'First order (live)',
    source: a('first_order_at'),
  },
  'purchases.lastOrderAt': {
    type: 'timestamp',
    description: 'Last order (live)',
    source: a('last_order_at'),
  },
  'scores.recencyDays': {
    type: 'integer',
    description: 'RFM: days since the last order',
    source: s('recency_days'),
  },
  'scores.frequency': { type: 'integer', description: 'RFM: orders', source: s('frequency') },
  'scores.monetary': {
    type: 'integer',
    description: 'RFM: net revenue (minor units)',
    source: s('monetary'),
  },
  'scores.r': { type: 'integer', description: 'RFM recency score 1–5', source: s('r') },
  'scores.f': { type: 'integer', description: 'RFM frequency score 1–5', source: s('f') },
  'scores.m': { type: 'integer', description: 'RFM monetary score 1–5', source: s('m') },
  'scores.rfmCell': { type: 'enum', values: RFM_CELLS, description: 'Named RFM cell', source: s('rfm_cell') },
  'scores.valueScore': { type: 'number', description: 'Value score 0–100', source: s('value_score') },
  'scores.tier': { type: 'enum', values: TIERS, description: 'Value tier', source: s('tier') },
  'scores.value.volume': {
    type: 'number',
    description: 'Value dimension 0–1: volume',
    source: s('n_volume'),
  },
  'scores.value.frequency': {
    type: 'number',
    description: 'Value dimension 0–1: frequency',
    source: s('n_frequency'),
  },
  'scores.value.amount': {
    type: 'number',
    description: 'Value dimension 0–1: amount',
    source: s('n_amount'),
  },
  'scores.value.punctuality': {
    type: 'number',
    description: 'Value dimension 0–1: payment punctuality',
    source: s('n_punctuality'),
  },
  'scores.value.seniority': {
    type: 'number',
    description: 'Value dimension 0–1: seniority',
    source: s('n_seniority'),
  },
  'scores.punctuality': {
    type: 'number',
    description: 'Share of orders paid on time (0–1)',
    source: s('punctuality'),
  },
  'scores.seniorityDays': {
    type: 'integer',
    description: 'Days since the first order',
    source: s('seniority_days'),
  },
  'scores.probabilityAlive': {
    type: 'number',
    description: 'BG/NBD probability alive',
    source: s('p_alive'),
  },
  'scores.churnRisk': { type: 'number', description: '1 − probability alive', source: { expr: 'churnRisk' } },
  'scores.expectedPurchases90': {
    type: 'number',
    description: 'Expected purchases in the next 90 days',
    source: s('expected_90'),
  },
  'scores.expectedOrderValue': {
    type: 'number',
    description: 'Gamma-Gamma expected order value (minor units)',
    source: s('expected_spend'),
  },
  'scores.clv': { type: 'number', description: '12-month CLV (minor units)', source: s('clv') },
  'scores.sixR.interactions90d': {
    type: 'integer',
    description: '6R relationship: interactions in 90 days',
    source: s('interactions_90'),
  },
  'scores.sixR.inbound90d': {
    type: 'integer',
    description: '6R relationship: inbound in 90 days',
    source: s('inbound_90'),
  },
  'scores.sixR.feedback90d': {
    type: 'integer',
    description: '6R relationship: feedback in 90 days',
    source: s('feedback_90'),
  },
  'scores.sixR.referredCustomers': {
    type: 'integer',
    description: '6R referral: customers referred',
    source: s('referrals'),
  },
  'scores.sixR.referredRevenue': {
    type: 'integer',
    description: '6R referral: their net revenue (minor units)',
    source: s('referral_revenue'),
  },
  'scores.sixR.complaints': {
    type: 'integer',
    description: '6R recovery: complaints',
    source: s('complaints'),
  },
  'scores.sixR.recovered': {
    type: 'integer',
    description: '6R recovery: times recovered',
    source: s('recoveries'),
  },
  'scores.sixR.reactivations': {
    type: 'integer',
    description: '6R reactivation: times reactivated',
    source: s('reactivations'),
  },
  'satisfaction.lastNps': {
    type: 'integer',
    description: 'The latest NPS answer (0–10)',
    source: { expr: 'lastNps' },
  },
  'satisfaction.meanGap': {
    type: 'number',
    description: 'Mean gap perception − expectation over all feedback (below 0: worse than expected)',
    source: { expr: 'meanGap' },
  },
  ...Object.fromEntries(
    CONSENT_CHANNELS.map((channel) => [
      `consent.${channel}`,
      {
        type: 'boolean',
        description: `Consent for ${channel} (eq false: withdrawn or never given)`,
        source: { expr: 'consent', key: channel },
      } satisfies FieldSpec,
    ]),
  ),
};

/** A custom attribute's declared type → the field type its conditions use. */
export const ATTRIBUTE_TYPES = {
  string: 'string',
  enum: 'enum',
  number: 'number',
  boolean: 'boolean',
  date: 'date',
} as const satisfies Record<string, FieldType>;

export type AttributeTypes = ReadonlyMap<string, AttributeShape>;

/** The field a name refers to, custom attributes (`attributes.<key>`) included; undefined when unknown. */
export function fieldOf(name: string, attributes: AttributeTypes): FieldSpec | undefined {
  if (Object.hasOwn(FIELDS, name)) return FIELDS[name];
  if (!name.startsWith('attributes.')) return undefined;
  const key = name.slice('attributes.'.length);
  const declared = attributes.get(key);
  if (!declared) return undefined;
  return {
    type: ATTRIBUTE_TYPES[declared.type],
    description: `Custom attribute ${key}`,
    ...(declared.values ? { values: declared.values } : {}),
    source: { expr: 'attribute', key },
  };
}

/** Filters of the activity nodes: each a value or a list of values (any of them). */
export const ACTIVITY = {
  orders: {
    where: ['category', 'sku', 'channel', 'source', 'status', 'intermediaryId', 'couponCode'],
    measures: ['count', 'sum'],
  },
  interactions: {
    where: ['type', 'channel', 'direction', 'intermediaryId', 'open', 'unanswered'],
    measures: ['count'],
  },
  feedback: { where: ['dimension', 'channel'], measures: ['count', 'meanGap', 'meanNps'] },
  statusChanges: { where: ['to', 'from', 'toPhase', 'fromPhase', 'reason'], measures: ['count'] },
} as const;
export type ActivityKind = keyof typeof ACTIVITY;
export const BOOLEAN_FILTERS = new Set(['open', 'unanswered']);
