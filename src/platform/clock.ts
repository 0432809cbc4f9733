/** Time as a dependency, so tests can control it. */
export type Clock = { now: () => Date };
export const systemClock: Clock = { now: () => new Date() };

/** The wall clock of an instant in a time zone: its day (YYYY-MM-DD) and time (HH:MM). */
export function wallClock(instant: Date, timezone: string): { day: string; time: string } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(instant)
      .map((p) => [p.type, p.value]),
  );
  return { day: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}
