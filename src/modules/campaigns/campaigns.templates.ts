import { Liquid } from 'liquidjs';
import type { FieldError } from '../../platform/errors.ts';
import type { Variant } from './campaigns.table.ts';

/**
 * Message templates in Liquid (liquidjs): strict variables and filters (a missing variable fails
 * the message rather than sending it blank, unless an `if`, `unless` or `default` guards it), own properties only, no file system at all (an
 * in-memory template map that is empty, so include/render/layout find nothing), and limits on
 * source size, render time and memory.
 */
const engine = new Liquid({
  strictVariables: true,
  // …except where a template asks whether a field has a value: `if`, `unless`, `default`
  lenientIf: true,
  strictFilters: true,
  ownPropertyOnly: true,
  relativeReference: false,
  templates: {},
  cache: 500,
  // a template may not hold the worker: bounded source, render time and memory
  parseLimit: 100_000,
  renderLimit: 1_000,
  memoryLimit: 10_000_000,
});

/** The templates of each variant that do not parse, with their paths. */
export function templateErrors(variants: readonly Variant[], prefix = 'variants'): FieldError[] {
  const errors: FieldError[] = [];
  for (const [i, v] of variants.entries()) {
    for (const field of ['subject', 'body'] as const) {
      const template = v[field];
      if (template === undefined) continue;
      try {
        engine.parse(template);
      } catch (error) {
        errors.push({
          path: `${prefix}[${i}].${field}`,
          message: `the template does not parse: ${(error as Error).message}`,
        });
      }
    }
  }
  return errors;
}

export type RenderResult = { subject: string | null; body: string } | { error: string };

/** Renders a variant for one customer; a failure names its cause (e.g. an undefined variable). */
export async function render(variant: Variant, context: Record<string, unknown>): Promise<RenderResult> {
  try {
    const scope = { ...context, offer: variant.offer ?? {} };
    const subject =
      variant.subject === undefined ? null : await engine.parseAndRender(variant.subject, scope);
    const body = await engine.parseAndRender(variant.body, scope);
    return { subject, body };
  } catch (error) {
    return { error: `template: ${(error as Error).message}` };
  }
}

/** The customer fields a template sees that are personal data (shown only to `customers:pii`). */
const PERSONAL = new Set(['email', 'phone', 'birthDate', 'city', 'country']);

/**
 * Whether a template can show personal data, from liquidjs' static analysis of the variables it
 * reads (any spelling: `customer.email`, `customer["email"]`, an `assign` or a `for` over `customer`):
 * a personal field, the whole customer (`customer | json`), or a key only known when it renders.
 */
export function showsPersonalData(variants: readonly Variant[]): boolean {
  const reads = (template: string) => {
    try {
      return engine.globalVariableSegmentsSync(template);
    } catch {
      return [['customer']]; // not analysable: assume the worst
    }
  };
  return variants.some((v) =>
    [v.subject, v.body].some(
      (template) =>
        template !== undefined &&
        reads(template).some(
          ([root, field]) => root === 'customer' && (typeof field !== 'string' || PERSONAL.has(field)),
        ),
    ),
  );
}
