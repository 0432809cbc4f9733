import { z } from 'zod';

const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

export const CurrencyCode = z
  .string()
  .refine((c) => CURRENCIES.has(c), 'must be an ISO 4217 currency code such as EUR')
  .describe('ISO 4217 currency code');

/** Money: an integer amount in minor units and its currency (1999 EUR is €19.99). */
export const MoneySchema = z
  .strictObject({
    amount: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).describe('Amount in minor units (cents)'),
    currency: CurrencyCode,
  })
  .meta({ id: 'Money', examples: [{ amount: 1999, currency: 'EUR' }] });
export type Money = z.infer<typeof MoneySchema>;

export const money = (amount: number, currency: string): Money => ({ amount, currency });
