/**
 * The one catalogue of coded errors. Services throw them; the REST error handler turns them into
 * problem+json and the GraphQL error formatter puts `code` into `extensions.code`.
 */
export type FieldError = { path: string; message: string };

const catalogue = {
  validation_failed: { status: 400, title: 'The request is not valid' },
  invalid_cursor: { status: 400, title: 'The cursor is not valid for this request' },
  invalid_json: { status: 400, title: 'The body is not valid JSON' },
  malformed_file: { status: 422, title: 'The file cannot be read past this point' },
  unknown_attribute: { status: 400, title: 'A custom attribute is not defined' },
  invalid_attribute: { status: 400, title: 'A custom attribute has the wrong type' },
  unauthorized: { status: 401, title: 'Authentication is required' },
  invalid_token: { status: 401, title: 'The bearer token is not valid' },
  insufficient_scope: { status: 403, title: 'The token lacks a required scope' },
  not_found: { status: 404, title: 'Not found' },
  tenant_not_found: { status: 404, title: 'Tenant not found' },
  customer_not_found: { status: 404, title: 'Customer not found' },
  intermediary_not_found: { status: 404, title: 'Intermediary not found' },
  attribute_not_found: { status: 404, title: 'Attribute definition not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  customer_email_taken: { status: 409, title: 'Another customer has this email' },
  customer_external_id_taken: { status: 409, title: 'Another customer has this externalId' },
  intermediary_external_id_taken: { status: 409, title: 'Another intermediary has this externalId' },
  attribute_key_taken: { status: 409, title: 'An attribute with this key exists' },
  attribute_in_use: { status: 409, title: 'The attribute is used by customers or segments' },
  tenant_slug_taken: { status: 409, title: 'A tenant with this slug exists' },
  currency_in_use: { status: 409, title: 'The tenant has orders in its currency' },
  idempotency_conflict: { status: 409, title: 'A request with this Idempotency-Key is in progress' },
  precondition_failed: { status: 412, title: 'The resource has changed since it was read' },
  payload_too_large: { status: 413, title: 'The body is too large' },
  upload_stalled: { status: 408, title: 'The upload stopped sending data' },
  import_stopped: { status: 409, title: 'The import was stopped while its body was arriving' },
  unsupported_media_type: { status: 415, title: 'The content type is not supported' },
  invalid_reference: { status: 422, title: 'A referenced resource does not exist in this tenant' },
  idempotency_key_reused: { status: 422, title: 'The Idempotency-Key was used with another request' },
  currency_conversion_required: { status: 422, title: 'The order is in another currency: send baseTotal' },
  order_total_mismatch: { status: 422, title: 'The items do not add up to the total' },
  order_refund_inconsistent: { status: 422, title: 'The refunded amount does not fit the status' },
  order_not_found: { status: 404, title: 'Order not found' },
  import_not_found: { status: 404, title: 'Import not found' },
  interaction_not_found: { status: 404, title: 'Interaction not found' },
  feedback_not_found: { status: 404, title: 'Feedback not found' },
  campaign_not_found: { status: 404, title: 'Campaign not found' },
  campaign_transition_invalid: { status: 409, title: 'The campaign cannot do that in its current status' },
  webhook_not_found: { status: 404, title: 'Webhook not found' },
  webhook_url_refused: { status: 422, title: 'The webhook URL is not allowed' },
  webhook_disabled: { status: 409, title: 'The webhook is disabled' },
  delivery_in_flight: { status: 409, title: 'An attempt of this delivery is under way' },
  segment_not_found: { status: 404, title: 'Segment not found' },
  segment_name_taken: { status: 409, title: 'Another segment has this name' },
  segment_in_use: { status: 409, title: 'Other segments refer to this segment' },
  intermediary_in_use: { status: 409, title: 'Customers depend on this intermediary being an employee' },
  segment_not_static: { status: 409, title: 'Only static segments have hand-kept members' },
  not_a_case: { status: 409, title: 'The interaction is not a case' },
  case_transition_invalid: { status: 409, title: 'The case cannot move to that status from its current one' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal error' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  write_conflict: { status: 503, title: 'Concurrent writes kept conflicting; retry the request' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof catalogue;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly errors?: FieldError[];
  readonly extra?: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    detail?: string,
    options: { errors?: FieldError[]; extra?: Record<string, unknown> } = {},
  ) {
    const entry = catalogue[code];
    super(detail ?? entry.title);
    this.name = 'AppError';
    this.code = code;
    this.status = entry.status;
    this.title = entry.title;
    this.errors = options.errors;
    this.extra = options.extra;
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;

export function validationError(errors: FieldError[], detail?: string): AppError {
  const summary = errors
    .slice(0, 3)
    .map((e) => `${e.path || '(root)'}: ${e.message}`)
    .join('; ');
  return new AppError('validation_failed', detail ?? summary, { errors });
}

export function statusOf(code: ErrorCode): number {
  return catalogue[code].status;
}
