import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Tx } from '../../platform/db.ts';
import { newId } from '../../platform/ids.ts';
import { EVENT_VIEW } from '../customers/customers.fields.ts';
import type { Customer } from '../customers/customers.schemas.ts';
import type { CustomersService } from '../customers/customers.service.ts';
import type { ConsentMap } from '../customers/customers.table.ts';
import type { EventsService } from '../events/events.service.ts';
import type { CustomerScores } from '../scores/scores.schemas.ts';
import type { ScoresService } from '../scores/scores.service.ts';
import type { SegmentsService } from '../segments/segments.service.ts';
import type { TenantsService } from '../tenants/tenants.service.ts';
import { type CampaignRow, type MessageInsert, campaignsRepository as repo } from './campaigns.repository.ts';
import type { CHANNELS, Variant } from './campaigns.table.ts';
import { render, showsPersonalData } from './campaigns.templates.ts';

type Channel = (typeof CHANNELS)[number];

/** The consent each channel needs (push and webhook go to the tenant's own app: none). */
export const CONSENT_OF: Record<Channel, keyof ConsentMap | null> = {
  email: 'email',
  sms: 'sms',
  whatsapp: 'sms',
  phone: 'phone',
  mail: 'mail',
  push: null,
  webhook: null,
};

/** Where a message for the channel goes, from the customer's profile. */
export function contactOf(customer: Customer, channel: Channel): string | null {
  switch (channel) {
    case 'email':
      return customer.email ?? null;
    case 'sms':
    case 'whatsapp':
    case 'phone':
      return customer.phone ?? null;
    case 'mail': {
      const a = customer.address;
      return a?.line ? [a.line, a.postalCode, a.city, a.region, a.country].filter(Boolean).join(', ') : null;
    }
    default:
      return customer.id;
  }
}

/** Deterministic holdout: the same campaign and customer always land in the same group. */
export function inHoldout(campaignId: string, customerId: string, percent: number): boolean {
  if (percent <= 0) return false;
  const hash = createHash('sha256').update(`${campaignId}:${customerId}`).digest();
  return (hash.readUInt32BE(0) / 2 ** 32) * 100 < percent;
}

const withoutNulls = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));

/** What a template sees: the customer (fields without a value are missing), its scores, the campaign. */
export function templateContext(campaign: CampaignRow, c: Customer, s: CustomerScores | null) {
  return {
    customer: withoutNulls({
      id: c.id,
      externalId: c.externalId,
      firstName: c.firstName,
      lastName: c.lastName,
      email: c.email,
      phone: c.phone,
      locale: c.locale,
      birthDate: c.birthDate,
      city: c.address?.city,
      country: c.address?.country,
      tags: c.tags,
      status: c.status,
      lifecyclePhase: c.lifecyclePhase,
      attributes: c.attributes,
    }),
    scores: s
      ? withoutNulls({
          tier: s.value.tier,
          valueScore: s.value.score,
          rfmCell: s.rfm.cell,
          recencyDays: s.rfm.recencyDays,
          frequency: s.rfm.frequency,
          probabilityAlive: s.model.probabilityAlive,
          clv: s.model.clv?.amount,
        })
      : {},
    campaign: { id: campaign.id, name: campaign.name, kind: campaign.kind },
  };
}

export type Entry = { customerId: string; occurrence: string };
export type Decision = {
  status: 'queued' | 'skipped' | 'held_out' | 'failed';
  reason: string | null;
  variant: Variant | null;
  subject: string | null;
  body: string | null;
  to: string | null;
};

const CHUNK = 500;

/**
 * The send pipeline, in order: consent for the channel, exclusions, the tenant's frequency cap,
 * holdout, variant, rendering. Every decision becomes a message row; a queued message becomes a
 * `campaign.message` event (webhooks deliver it to the sending system).
 */
export class Sender {
  readonly #customers: CustomersService;
  readonly #scores: ScoresService;
  readonly #segments: SegmentsService;
  readonly #events: EventsService;
  readonly #tenants: TenantsService;

  constructor(deps: {
    customers: CustomersService;
    scores: ScoresService;
    segments: SegmentsService;
    events: EventsService;
    tenants: TenantsService;
  }) {
    this.#customers = deps.customers;
    this.#scores = deps.scores;
    this.#segments = deps.segments;
    this.#events = deps.events;
    this.#tenants = deps.tenants;
  }

  /** Decides for each customer (no writes): the pipeline as `enter` runs it, and as previews show it. */
  async decide(tx: Tx, tenantId: string, campaign: CampaignRow, ids: string[], now: Date) {
    const views = await this.#customers.viewsIn(tx, EVENT_VIEW, ids);
    const scores = new Map(
      (await this.#scores.viewsIn(tx, tenantId, ids)).flatMap((s) => (s ? [[s.customerId, s] as const] : [])),
    );
    const variantSegments = campaign.variants.flatMap((v) => (v.segmentId ? [v.segmentId] : []));
    const memberships = await this.#segments.membershipsIn(
      tx,
      [...new Set([...campaign.excludeSegmentIds, ...variantSegments])],
      ids,
    );
    const { frequencyCap } = (await this.#tenants.settingsIn(tx, tenantId)).campaigns;
    const sent = await repo.sentSince(tx, ids, new Date(now.getTime() - frequencyCap.days * 86_400_000));
    const decisions = new Map<string, Decision & { customer: Customer }>();
    for (const id of ids) {
      const customer = views.get(id);
      if (!customer) continue;
      const decision = await this.#decideOne(
        campaign,
        customer,
        scores.get(id) ?? null,
        memberships.get(id),
        {
          sent: sent.get(id) ?? 0,
          cap: frequencyCap.messages,
        },
      );
      if (decision.status === 'queued') sent.set(id, (sent.get(id) ?? 0) + 1);
      decisions.set(id, { ...decision, customer });
    }
    return decisions;
  }

  async #decideOne(
    campaign: CampaignRow,
    customer: Customer,
    scores: CustomerScores | null,
    segments: Set<string> | undefined,
    cap: { sent: number; cap: number },
  ): Promise<Decision> {
    const none = { variant: null, subject: null, body: null, to: null };
    const skip = (reason: string): Decision => ({ status: 'skipped', reason, ...none });
    const consent = CONSENT_OF[campaign.channel];
    if (consent && customer.consent[consent]?.granted !== true) return skip(`no_consent:${consent}`);
    const to = contactOf(customer, campaign.channel);
    if (!to) return skip('no_contact');
    if (campaign.excludeSegmentIds.some((s) => segments?.has(s))) return skip('excluded');
    if (cap.sent >= cap.cap) return skip('frequency_cap');
    if (inHoldout(campaign.id, customer.id, campaign.holdoutPercent))
      return { status: 'held_out', reason: null, ...none };
    const variant =
      campaign.variants.find((v) => v.segmentId && segments?.has(v.segmentId)) ??
      campaign.variants.find((v) => !v.segmentId);
    if (!variant) return skip('no_variant');
    const rendered = await render(variant, templateContext(campaign, customer, scores));
    if ('error' in rendered) return { status: 'failed', reason: rendered.error, ...none, variant };
    return { status: 'queued', reason: null, variant, subject: rendered.subject, body: rendered.body, to };
  }

  /**
   * Customers enter the campaign: decisions recorded (an occurrence only once), queued messages
   * emitted. Entries of one tenant are decided one pass at a time (a lock), and a customer entering
   * twice in one call is decided twice, in turn: the frequency cap counts every message.
   */
  async enter(tx: Tx, tenantId: string, campaign: CampaignRow, entries: Entry[], now: Date) {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext('vinculo.campaigns:' || ${tenantId}::text))`);
    const counts: Record<string, number> = {};
    const rounds: Entry[][] = [];
    const seen = new Map<string, number>();
    for (const e of entries) {
      const round = seen.get(e.customerId) ?? 0;
      seen.set(e.customerId, round + 1);
      if (!rounds[round]) rounds[round] = [];
      rounds[round].push(e);
    }
    for (const round of rounds) await this.#enterRound(tx, tenantId, campaign, round, now, counts);
    return counts;
  }

  async #enterRound(
    tx: Tx,
    tenantId: string,
    campaign: CampaignRow,
    entries: Entry[],
    now: Date,
    counts: Record<string, number>,
  ) {
    for (let i = 0; i < entries.length; i += CHUNK) {
      // an occurrence already recorded (a birthday wished, a segment entry handled) is not decided
      // and rendered again only to be dropped by the unique key
      const chunk = await repo.unrecorded(tx, campaign.id, entries.slice(i, i + CHUNK));
      if (!chunk.length) continue;
      // their messages quote them: an erasure under way is waited for (its customer is then gone)
      await this.#customers.holdAgainstErasure(
        tx,
        chunk.map((e) => e.customerId),
      );
      const decisions = await this.decide(
        tx,
        tenantId,
        campaign,
        [...new Set(chunk.map((e) => e.customerId))],
        now,
      );
      const rows: MessageInsert[] = chunk.flatMap((e) => {
        const d = decisions.get(e.customerId);
        if (!d) return [];
        return [
          {
            tenantId,
            id: newId(),
            campaignId: campaign.id,
            customerId: e.customerId,
            occurrence: e.occurrence,
            status: d.status,
            reason: d.reason,
            variant: d.variant?.key ?? null,
            subject: d.subject,
            body: d.body,
            showsPersonalData: d.variant ? showsPersonalData([d.variant]) : false,
            statusAtEntry: d.customer.status,
            channel: campaign.channel,
            enteredAt: now,
          },
        ];
      });
      const inserted = await repo.insertMessages(tx, rows);
      for (const m of inserted) counts[m.status] = (counts[m.status] ?? 0) + 1;
      await this.#events.emit(
        tx,
        tenantId,
        inserted
          .filter((m) => m.status === 'queued')
          .map((m) => {
            const d = decisions.get(m.customerId)!;
            return {
              type: 'campaign.message' as const,
              occurredAt: now,
              data: {
                messageId: m.id,
                campaignId: campaign.id,
                campaignName: campaign.name,
                kind: campaign.kind,
                channel: campaign.channel,
                customerId: m.customerId,
                to: d.to,
                variant: m.variant,
                subject: m.subject,
                body: m.body,
                offer: d.variant?.offer ?? null,
              },
            };
          }),
      );
    }
  }
}
