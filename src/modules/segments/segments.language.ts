import type { FieldError } from '../../platform/errors.ts';
import { isoDate, isoDateTime, uuid } from '../../platform/schemas.ts';
import {
  ACTIVITY,
  type ActivityKind,
  type AttributeTypes,
  BOOLEAN_FILTERS,
  type FieldSpec,
  fieldOf,
  OPERATORS,
} from './segments.fields.ts';

/**
 * The segment language, version 1: a JSON tree of `all` / `any` / `not`, conditions on fields, and
 * activity nodes (orders, interactions, feedback, status changes in a window). `validate` turns a
 * definition into a typed tree or into errors that point at the exact path.
 */
export const SEGMENT_LIMITS = { depth: 8, conditions: 100, values: 1000, stringLength: 500 } as const;

export type NumberTest = { eq?: number; gt?: number; gte?: number; lt?: number; lte?: number };
export const NUMBER_TESTS = ['eq', 'gt', 'gte', 'lt', 'lte'] as const;

export type Ast =
  | { kind: 'all' | 'any'; nodes: Ast[] }
  | { kind: 'not'; node: Ast }
  | { kind: 'condition'; field: string; spec: FieldSpec; op: string; value: unknown }
  | {
      kind: 'activity';
      activity: ActivityKind;
      within: string | null;
      where: Record<string, readonly (string | boolean)[]>;
      measures: Record<string, NumberTest>;
    };

export type Validated = { ast: Ast; segmentIds: string[] } | { errors: FieldError[] };

const DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/;
const isDuration = (v: unknown): v is string =>
  typeof v === 'string' && DURATION.test(v) && durationDays(v) <= 36_600;
const isUuid = (v: unknown) => uuid().safeParse(v).success;
const isDate = (v: unknown) => isoDate().safeParse(v).success;
const isTimestamp = (v: unknown) => isDate(v) || isoDateTime().safeParse(v).success;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A duration's rough length in days (for the sanity limit only; windows use calendar arithmetic). */
function durationDays(d: string): number {
  const m = DURATION.exec(d)!;
  const n = (i: number) => Number.parseInt(m[i] ?? '0', 10) || 0;
  return n(1) * 366 + n(2) * 31 + n(3) * 7 + n(4) + (n(6) + n(7) / 60 + n(8) / 3600) / 24;
}

/** Checks a scalar of a field's type; undefined when it fits, else what was expected. */
function scalarProblem(spec: FieldSpec, v: unknown): string | undefined {
  switch (spec.type) {
    case 'string':
    case 'tags':
      return typeof v === 'string' && v.length <= SEGMENT_LIMITS.stringLength
        ? undefined
        : `expected a string of at most ${SEGMENT_LIMITS.stringLength} characters`;
    case 'enum':
      return typeof v === 'string' && spec.values?.includes(v)
        ? undefined
        : `expected one of ${spec.values?.map((x) => JSON.stringify(x)).join(', ')}`;
    case 'number':
      // within what a 4-byte float holds (some score columns are): none is meaningful beyond it
      return typeof v === 'number' &&
        Number.isFinite(v) &&
        Math.abs(v) <= 3.4e38 &&
        (v === 0 || Math.abs(v) >= 1.2e-38)
        ? undefined
        : 'expected a number (at most 3.4e38 in size, and 0 or at least 1.2e-38 from it)';
    case 'integer':
      return Number.isSafeInteger(v) ? undefined : 'expected an integer';
    case 'boolean':
      return typeof v === 'boolean' ? undefined : 'expected true or false';
    case 'timestamp':
      return isTimestamp(v) ? undefined : 'expected an ISO 8601 date or date-time with offset';
    case 'date':
      return isDate(v) ? undefined : 'expected a date (YYYY-MM-DD)';
    case 'uuid':
    case 'segment':
      return isUuid(v) ? undefined : 'expected a UUID';
    case 'birthday':
      return 'expected a duration';
  }
}

const order = (spec: FieldSpec, v: unknown) =>
  spec.type === 'timestamp' || spec.type === 'date' ? Date.parse(v as string) : (v as number);

class Checker {
  readonly errors: FieldError[] = [];
  readonly segmentIds = new Set<string>();
  readonly attributes: AttributeTypes;
  conditions = 0;
  constructor(attributes: AttributeTypes) {
    this.attributes = attributes;
  }

  fail(path: string, message: string): undefined {
    this.errors.push({ path, message });
    return undefined;
  }

  node(v: unknown, path: string, depth: number): Ast | undefined {
    if (!isObject(v)) return this.fail(path, 'expected an object: all, any, not, a condition or an activity');
    if (depth > SEGMENT_LIMITS.depth)
      return this.fail(path, `nested deeper than ${SEGMENT_LIMITS.depth} levels`);
    const keys = Object.keys(v).filter((k) => !(depth === 0 && k === 'version'));
    if ('all' in v || 'any' in v) {
      const kind = 'all' in v ? 'all' : 'any';
      if (keys.length !== 1) return this.fail(path, `"${kind}" stands alone in its object`);
      const list = v[kind];
      if (!Array.isArray(list)) return this.fail(`${path}.${kind}`, 'expected an array of nodes');
      const nodes = list.map((n, i) => this.node(n, `${path}.${kind}[${i}]`, depth + 1));
      return nodes.every(Boolean) ? { kind, nodes: nodes as Ast[] } : undefined;
    }
    if ('not' in v) {
      if (keys.length !== 1) return this.fail(path, '"not" stands alone in its object');
      const node = this.node(v.not, `${path}.not`, depth + 1);
      return node && { kind: 'not', node };
    }
    const activity = keys.find((k): k is ActivityKind => Object.hasOwn(ACTIVITY, k));
    if (activity) {
      if (keys.length !== 1) return this.fail(path, `"${activity}" stands alone in its object`);
      return this.#count(path) ? this.activity(activity, v[activity], `${path}.${activity}`) : undefined;
    }
    if ('field' in v) {
      // at the root, the language's `version` stands beside the condition's own members
      const { version: _version, ...own } = v;
      return this.#count(path) ? this.condition(depth === 0 ? own : v, path) : undefined;
    }
    return this.fail(
      path,
      `expected one of all, any, not, field, ${Object.keys(ACTIVITY).join(', ')}; got ${keys.join(', ') || 'nothing'}`,
    );
  }

  #count(path: string): boolean {
    this.conditions += 1;
    if (this.conditions === SEGMENT_LIMITS.conditions + 1)
      this.fail(path, `more than ${SEGMENT_LIMITS.conditions} conditions`);
    return this.conditions <= SEGMENT_LIMITS.conditions;
  }

  condition(v: Record<string, unknown>, path: string): Ast | undefined {
    const extra = Object.keys(v).filter((k) => !['field', 'op', 'value'].includes(k));
    if (extra.length)
      return this.fail(`${path}.${extra[0]}`, 'unknown key (a condition has field, op, value)');
    if (typeof v.field !== 'string') return this.fail(`${path}.field`, 'expected a field name');
    const spec = fieldOf(v.field, this.attributes);
    if (!spec)
      return this.fail(
        `${path}.field`,
        v.field.startsWith('attributes.')
          ? `no custom attribute "${v.field.slice(11)}" is defined`
          : `unknown field "${v.field}" (see GET /v1/segments/schema)`,
      );
    const ops = OPERATORS[spec.type];
    if (typeof v.op !== 'string' || !ops.includes(v.op))
      return this.fail(`${path}.op`, `expected one of ${ops.join(', ')} for ${v.field} (${spec.type})`);
    const value = v.op === 'exists' && v.value === undefined ? true : v.value;
    const problem = this.value(spec, v.op, value, `${path}.value`);
    if (problem !== undefined) return undefined;
    if (spec.type === 'segment')
      for (const id of [value].flat()) this.segmentIds.add((id as string).toLowerCase());
    return { kind: 'condition', field: v.field, spec, op: v.op, value };
  }

  /** Checks a condition's value; returns undefined when it is fine, else records the error. */
  value(spec: FieldSpec, op: string, value: unknown, path: string): string | undefined {
    const bad = (message: string) => {
      this.fail(path, message);
      return message;
    };
    switch (op) {
      case 'exists':
        return typeof value === 'boolean' ? undefined : bad('expected true or false');
      case 'within':
      case 'before':
      case 'after':
        return isDuration(value) ? undefined : bad('expected an ISO 8601 duration such as P30D, P6M or P1Y');
      case 'in':
      case 'nin': {
        if (!Array.isArray(value) || value.length === 0 || value.length > SEGMENT_LIMITS.values)
          return bad(`expected an array of 1 to ${SEGMENT_LIMITS.values} values`);
        for (const [i, item] of value.entries()) {
          const problem = scalarProblem(spec, item);
          if (problem) return bad(`[${i}]: ${problem}`);
        }
        return undefined;
      }
      case 'between': {
        if (!Array.isArray(value) || value.length !== 2) return bad('expected [low, high]');
        const problem = scalarProblem(spec, value[0]) ?? scalarProblem(spec, value[1]);
        if (problem) return bad(problem);
        return order(spec, value[0]) <= order(spec, value[1]) ? undefined : bad('low is above high');
      }
      default: {
        const problem = scalarProblem(spec, value);
        return problem ? bad(problem) : undefined;
      }
    }
  }

  activity(kind: ActivityKind, v: unknown, path: string): Ast | undefined {
    if (!isObject(v)) return this.fail(path, 'expected an object with within, where and measures');
    const { where: filters, measures } = ACTIVITY[kind];
    const allowed = ['within', 'where', ...measures];
    const extra = Object.keys(v).find((k) => !allowed.includes(k));
    if (extra) return this.fail(`${path}.${extra}`, `unknown key (expected ${allowed.join(', ')})`);
    let ok = true;
    if (v.within !== undefined && !isDuration(v.within)) {
      ok = this.fail(`${path}.within`, 'expected an ISO 8601 duration such as P90D') ?? false;
    }
    const where: Record<string, (string | boolean)[]> = {};
    if (v.where !== undefined) {
      if (!isObject(v.where)) return this.fail(`${path}.where`, 'expected an object');
      for (const [key, raw] of Object.entries(v.where)) {
        const at = `${path}.where.${key}`;
        if (!(filters as readonly string[]).includes(key)) {
          ok = this.fail(at, `unknown filter (expected ${filters.join(', ')})`) ?? false;
          continue;
        }
        const list = Array.isArray(raw) ? raw : [raw];
        const want = BOOLEAN_FILTERS.has(key) ? 'boolean' : 'string';
        if (
          list.length === 0 ||
          list.length > SEGMENT_LIMITS.values ||
          list.some((x) => typeof x !== want || (want === 'string' && (x as string).length > 500)) ||
          (want === 'boolean' && Array.isArray(raw))
        ) {
          ok =
            this.fail(
              at,
              want === 'boolean' ? 'expected true or false' : 'expected a string or an array of strings',
            ) ?? false;
          continue;
        }
        if (key === 'intermediaryId' && !list.every(isUuid)) {
          ok = this.fail(at, 'expected a UUID or an array of UUIDs') ?? false;
          continue;
        }
        where[key] = list as (string | boolean)[];
      }
    }
    const tests: Record<string, NumberTest> = {};
    for (const measure of measures) {
      const raw = v[measure];
      if (raw === undefined) continue;
      const at = `${path}.${measure}`;
      if (!isObject(raw) || Object.keys(raw).length === 0)
        ok = this.fail(at, 'expected an object of eq, gt, gte, lt, lte') ?? false;
      else {
        const test: NumberTest = {};
        for (const [op, n] of Object.entries(raw)) {
          if (!(NUMBER_TESTS as readonly string[]).includes(op))
            ok = this.fail(`${at}.${op}`, 'expected one of eq, gt, gte, lt, lte') ?? false;
          else if (typeof n !== 'number' || !Number.isFinite(n))
            ok = this.fail(`${at}.${op}`, 'expected a number') ?? false;
          else test[op as keyof NumberTest] = n;
        }
        tests[measure] = test;
      }
    }
    if (!ok) return undefined;
    // without a measure the node asks for at least one
    if (Object.keys(tests).length === 0) tests.count = { gte: 1 };
    return {
      kind: 'activity',
      activity: kind,
      within: (v.within as string | undefined) ?? null,
      where,
      measures: tests,
    };
  }
}

/** Validates a definition (`definition` is the path prefix of every error). */
export function validate(definition: unknown, attributes: AttributeTypes, prefix = 'definition'): Validated {
  const checker = new Checker(attributes);
  if (!isObject(definition)) return { errors: [{ path: prefix, message: 'expected an object' }] };
  if (definition.version !== 1)
    checker.fail(`${prefix}.version`, 'expected 1 (the only version of the language)');
  const ast = checker.node(definition, prefix, 0);
  if (checker.errors.length || !ast) return { errors: checker.errors };
  return { ast, segmentIds: [...checker.segmentIds] };
}

/** Whether a number passes every test of a measure (the compiler and the evaluators agree on this). */
export function passes(test: NumberTest, n: number): boolean {
  return (
    (test.eq === undefined || n === test.eq) &&
    (test.gt === undefined || n > test.gt) &&
    (test.gte === undefined || n >= test.gte) &&
    (test.lt === undefined || n < test.lt) &&
    (test.lte === undefined || n <= test.lte)
  );
}
