/**
 * Turns a CSV record (header → text) into the JSON body the single-item endpoints take. Nested
 * fields use dotted headers (`address.city`, `customer.email`, `payment.dueAt`); empty cells are
 * left out; values that are not what a field wants stay text, so validation names the field.
 */
export type Record_ = Record<string, string>;
export type AttributeTypes = Map<string, string>;

const INTEGER = /^-?\d+$/;
const NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * An object without a prototype: a header is the file's, so `__proto__.x` or `constructor.prototype.x`
 * must name a key like any other (which validation then refuses), never reach Object.prototype.
 */
const blank = () => Object.create(null) as Record<string, unknown>;

function setPath(target: Record<string, unknown>, path: string[], value: unknown) {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = Object.hasOwn(node, key) ? node[key] : undefined;
    if (typeof next === 'object' && next !== null) node = next as Record<string, unknown>;
    else {
      const created = blank();
      node[key] = created;
      node = created;
    }
  }
  node[path.at(-1)!] = value;
}

const int = (v: string) => (INTEGER.test(v) ? Number(v) : v);
const bool = (v: string) => (v === 'true' ? true : v === 'false' ? false : v);

function attributeValue(type: string | undefined, v: string): unknown {
  if (type === 'number') return NUMBER.test(v) ? Number(v) : v;
  if (type === 'boolean') return bool(v);
  return v;
}

/** A customer: `tags` split on `|`, `consent.<channel>` true/false, `attributes.<key>` by its type. */
export function customerFromCsv(
  record: Record_,
  types: AttributeTypes,
  prefix = '',
): Record<string, unknown> {
  const out = blank();
  for (const [header, raw] of Object.entries(record)) {
    if (!header.startsWith(prefix)) continue;
    const value = raw.trim();
    if (value === '') continue;
    const path = header.slice(prefix.length).split('.');
    const [head, key] = path;
    if (head === 'tags')
      out.tags = value
        .split('|')
        .map((t) => t.trim())
        .filter(Boolean);
    else if (head === 'consent' && key) setPath(out, ['consent', key, 'granted'], bool(value));
    else if (head === 'attributes' && key)
      setPath(out, ['attributes', key], attributeValue(types.get(key), value));
    else setPath(out, path, value);
  }
  return out;
}

const MONEY = ['total', 'discount', 'shipping', 'refunded'] as const;

/**
 * An order: amounts in minor units with one `currency` column; `baseTotal` in the tenant's currency;
 * `items` as a JSON array of `{ sku, name, category, quantity, unitPrice }` (unitPrice in minor units);
 * `customer.*` columns for the customer's identity and profile.
 */
export function orderFromCsv(
  record: Record_,
  types: AttributeTypes,
  tenantCurrency: string,
): Record<string, unknown> {
  const out = blank();
  const currency = record.currency?.trim() || tenantCurrency;
  for (const [header, raw] of Object.entries(record)) {
    const value = raw.trim();
    if (value === '' || header.startsWith('customer.') || header === 'currency') continue;
    if ((MONEY as readonly string[]).includes(header)) out[header] = { amount: int(value), currency };
    else if (header === 'baseTotal') out.baseTotal = { amount: int(value), currency: tenantCurrency };
    else if (header === 'items') {
      try {
        const items = JSON.parse(value) as Record<string, unknown>[];
        out.items = Array.isArray(items)
          ? items.map((i) =>
              typeof i?.unitPrice === 'number' ? { ...i, unitPrice: { amount: i.unitPrice, currency } } : i,
            )
          : items;
      } catch {
        out.items = value; // reported by validation as not an array
      }
    } else setPath(out, header.split('.'), value);
  }
  const customer = customerFromCsv(record, types, 'customer.');
  if (Object.keys(customer).length) out.customer = customer;
  return out;
}
