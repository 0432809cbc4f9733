/** Time as a dependency, so tests can control it. */
export type Clock = { now: () => Date };
export const systemClock: Clock = { now: () => new Date() };

/** `work`, or `late` when it has not settled within `ms` (the timer is cleared either way). */
export async function within<T, L>(work: Promise<T>, ms: number, late: L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<L>((resolve) => {
    timer = setTimeout(() => resolve(late), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

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

const formatters = new Map<string, Intl.DateTimeFormat>();
/** How far the time zone's wall clock is ahead of UTC at this instant, in milliseconds. */
function offsetAt(instant: number, timezone: string): number {
  let format = formatters.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      hourCycle: 'h23',
    });
    formatters.set(timezone, format);
  }
  const p = Object.fromEntries(format.formatToParts(instant).map((x) => [x.type, Number(x.value)]));
  const wall = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
  return wall - (instant - (((instant % 1000) + 1000) % 1000));
}

/**
 * The instant whose wall clock in `timezone` is `shiftWall` applied to the wall clock of `instant`
 * (calendar arithmetic on the local date and time: 09:00 stays 09:00 across a change of offset). A
 * wall time that does not exist (skipped by a change to summer time) comes out an hour later.
 */
export function atWallClock(instant: Date, timezone: string, shiftWall: (wall: Date) => Date): Date {
  const wall = shiftWall(new Date(instant.getTime() + offsetAt(instant.getTime(), timezone))).getTime();
  const first = wall - offsetAt(wall, timezone);
  const second = wall - offsetAt(first, timezone);
  return new Date(second);
}
