import { v7 } from 'uuid';

/** UUIDv7: time-ordered, so keyset pagination on the id follows creation order. */
export const newId = (): string => v7();
