import { parsePhoneNumberFromString } from 'libphonenumber-js';
import type { Actor } from '../../platform/auth.ts';
import { AppError } from '../../platform/errors.ts';
import type { AttributesService } from '../attributes/attributes.service.ts';
import type { CustomerInsert, CustomerRow } from './customers.repository.ts';
import type { CreateCustomerInput, Customer, UpdateCustomerInput } from './customers.schemas.ts';
import type { ConsentMap } from './customers.table.ts';

/** The pure side of customers: their public shape, API fields to columns, references and identities. */

export const canSeePii = (actor: Actor) => actor.scopes.has('customers:pii');

/** Events carry the whole customer: the feed and the webhooks need webhooks:manage and customers:pii. */
export const EVENT_VIEW: Actor = {
  sub: 'events',
  tenantId: null,
  scopes: new Set(['customers:pii']),
  segments: null,
};

/** The public shape of a customer; personal data only for tokens with `customers:pii`. */
export function toCustomer(row: CustomerRow, actor: Actor): Customer {
  const customer: Customer = {
    id: row.id,
    externalId: row.externalId,
    firstName: row.firstName,
    lastName: row.lastName,
    locale: row.locale,
    attributes: row.attributes,
    tags: row.tags,
    consent: row.consent,
    source: row.source,
    referredBy: row.referredByCustomerId
      ? { kind: 'customer', id: row.referredByCustomerId }
      : row.referredByIntermediaryId
        ? { kind: 'intermediary', id: row.referredByIntermediaryId }
        : null,
    accountManagerId: row.accountManagerId,
    status: row.status,
    lifecyclePhase: row.lifecyclePhase,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
  if (canSeePii(actor)) {
    customer.email = row.email;
    customer.phone = row.phone;
    customer.birthDate = row.birthDate;
    customer.address = {
      line: row.addressLine,
      city: row.city,
      region: row.region,
      postalCode: row.postalCode,
      country: row.country,
    };
  }
  return customer;
}

export type Input = CreateCustomerInput | UpdateCustomerInput;

/** Maps API fields to columns; `undefined` leaves a column as it is, `null` clears it. */
export function columnsOf(
  input: Input,
  current: CustomerRow | undefined,
  now: Date,
): Partial<CustomerInsert> {
  const cols: Partial<CustomerInsert> = {
    externalId: input.externalId,
    email: input.email === undefined ? undefined : (input.email?.trim().toLowerCase() ?? null),
    phone: input.phone,
    firstName: input.firstName,
    lastName: input.lastName,
    birthDate: input.birthDate,
    locale: input.locale,
    source: input.source,
    accountManagerId: input.accountManagerId,
    tags: input.tags && [...new Set(input.tags)],
  };
  if (input.address !== undefined) {
    const a = input.address ?? {};
    const old = input.address === null ? undefined : current;
    cols.addressLine = a.line === undefined ? (old?.addressLine ?? null) : a.line;
    cols.city = a.city === undefined ? (old?.city ?? null) : a.city;
    cols.region = a.region === undefined ? (old?.region ?? null) : a.region;
    cols.postalCode = a.postalCode === undefined ? (old?.postalCode ?? null) : a.postalCode;
    cols.country = a.country === undefined ? (old?.country ?? null) : a.country;
  }
  if (input.referredBy !== undefined) {
    cols.referredByCustomerId = input.referredBy?.kind === 'customer' ? input.referredBy.id : null;
    cols.referredByIntermediaryId = input.referredBy?.kind === 'intermediary' ? input.referredBy.id : null;
  }
  if (input.attributes !== undefined) {
    const merged: Record<string, unknown> = { ...(current?.attributes ?? {}) };
    for (const [k, v] of Object.entries(input.attributes)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    cols.attributes = merged;
  }
  if (input.consent !== undefined) {
    const merged: ConsentMap = { ...(current?.consent ?? {}) };
    for (const [channel, c] of Object.entries(input.consent)) {
      if (!c) continue;
      const at = new Date(c.at ?? now).toISOString();
      const held = merged[channel as keyof ConsentMap];
      // the history records every change; the current state is the latest one, whatever the order
      // they arrive in (a grant dated before a later withdrawal does not undo it)
      if (held?.at && Date.parse(held.at) > Date.parse(at)) continue;
      merged[channel as keyof ConsentMap] = { granted: c.granted, at };
    }
    cols.consent = merged;
  }
  return cols;
}

export type References = { intermediaries: Map<string, string>; customers: Set<string> };

/** accountManagerId must be an employee of this tenant; referredBy a customer or intermediary of it. */
export function referenceProblem(input: Input, prefix: string, refs: References): AppError | undefined {
  const fail = (field: string, message: string) =>
    new AppError('invalid_reference', `${path(prefix, field)}: ${message}`, {
      errors: [{ path: path(prefix, field), message }],
    });
  if (input.accountManagerId) {
    const kind = refs.intermediaries.get(input.accountManagerId);
    if (!kind) return fail('accountManagerId', `no intermediary ${input.accountManagerId} in this tenant`);
    if (kind !== 'employee')
      return fail('accountManagerId', `the account manager must be an employee, not a ${kind}`);
  }
  const ref = input.referredBy;
  if (ref?.kind === 'intermediary' && !refs.intermediaries.has(ref.id)) {
    return fail('referredBy', `no intermediary ${ref.id} in this tenant`);
  }
  if (ref?.kind === 'customer' && !refs.customers.has(ref.id)) {
    return fail('referredBy', `no customer ${ref.id} in this tenant`);
  }
  return undefined;
}

export type Identity = { externalId?: string | null; email?: string | null; phone?: string | null };
export const normalEmail = (email: string) => email.trim().toLowerCase();
/**
 * What a phone is matched by: its digits and a leading +, so `+34 699 000 111`, `+34-699-000-111` and
 * `+34699000111` are one phone (stored as given); customers_phone_idx indexes the same expression.
 */
export const phoneKey = (phone: string) => phone.replace(/[^0-9+]/g, '');
/**
 * The ways a phone may be written elsewhere, for erasure: as stored, by its key, and, when it has an
 * international prefix (libphonenumber-js reads the country from it), in international form and in
 * the country's national forms (`+34 600 123 456` → `+34600123456`, `600123456`; `+44 7700 900123`
 * → `07700900123`, `7700900123`). Separators between the digits are the matcher's business.
 */
export function phoneForms(phone: string): string[] {
  const parsed = phone.trim().startsWith('+') ? parsePhoneNumberFromString(phone) : undefined;
  const forms = [phone, phoneKey(phone)];
  if (parsed) forms.push(parsed.number, parsed.nationalNumber, phoneKey(parsed.formatNational()));
  return [...new Set(forms)];
}

/** The keys an identity matches by, in priority order. */
export const identityKeys = (i: Identity) =>
  [
    i.externalId && `x:${i.externalId}`,
    i.email && `e:${normalEmail(i.email)}`,
    i.phone && `p:${phoneKey(i.phone)}`,
  ].filter((k): k is string => Boolean(k));

export type Defs = Awaited<ReturnType<AttributesService['definitions']>>;
export const path = (prefix: string, field: string) => (prefix ? `${prefix}.${field}` : field);
