import { z } from 'zod';
import type { AppError, FieldError } from './errors.ts';
import { validationError } from './errors.ts';

/** RFC 9457 problem details, with Vínculo's stable `code`. */
export const ProblemSchema = z
  .object({
    type: z.string().describe('A URI naming the problem type'),
    title: z.string().describe('Short, human-readable summary of the problem type'),
    status: z.number().int().describe('The HTTP status code'),
    detail: z.string().describe('What went wrong in this occurrence'),
    code: z.string().describe('Stable machine-readable error code, e.g. `customer_not_found`'),
    instance: z.string().optional().describe('The request path'),
    requestId: z.string().optional().describe('The request id, also in the logs'),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .describe('For validation errors: each failing field'),
  })
  .catchall(z.unknown())
  .meta({ id: 'Problem' });

export type Problem = z.infer<typeof ProblemSchema>;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function problemFrom(error: AppError, instance?: string, requestId?: string): Problem {
  return {
    // an error's own members first: they never replace the standard ones (`status` is the HTTP status)
    ...(error.extra ?? {}),
    type: `https://vinculo.dev/problems/${error.code.replaceAll('_', '-')}`,
    title: error.title,
    status: error.status,
    detail: error.message,
    code: error.code,
    ...(instance ? { instance } : {}),
    ...(requestId ? { requestId } : {}),
    ...(error.errors ? { errors: error.errors } : {}),
  };
}

/** Zod issue paths → `items[2].email` as users write them. */
export function formatPath(path: ReadonlyArray<PropertyKey>, prefix = ''): string {
  let out = prefix;
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${String(segment)}` : String(segment);
  }
  return out;
}

/** One field error per issue; an unknown key is reported at its own path. */
export function fieldErrorsOf(
  issues: ReadonlyArray<{
    path: ReadonlyArray<PropertyKey>;
    message: string;
    code?: string;
    keys?: string[];
  }>,
  prefix = '',
): FieldError[] {
  return issues.flatMap((i) =>
    i.code === 'unrecognized_keys' && i.keys
      ? i.keys.map((k) => ({ path: formatPath([...i.path, k], prefix), message: 'is not a known field' }))
      : [{ path: formatPath(i.path, prefix), message: i.message }],
  );
}

export const zodFieldErrors = (issues: ReadonlyArray<z.core.$ZodIssue>, prefix = ''): FieldError[] =>
  fieldErrorsOf(issues as never, prefix);

/** Parses with a zod schema, throwing a coded validation error with each failing path. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw validationError(zodFieldErrors(result.error.issues, prefix));
  }
  return result.data;
}
