import type { ChangeData } from "./wire.js";

/** Entries the feed keeps; older ones drop off the end. */
const MAX_ENTRIES = 100;

const DESCRIBE: Readonly<Record<ChangeData["kind"], string>> = {
  booked: "booked",
  released: "released",
  held: "held",
  "hold-ended": "hold ended",
  resized: "resized",
  closed: "closed to sales",
};

/**
 * The list of changes as they arrive, newest first: time, show, version and
 * what happened to which seats. Never who did it: changes carry no principal.
 */
export class ChangeFeed {
  readonly #list: HTMLOListElement;

  constructor(list: HTMLOListElement) {
    this.#list = list;
  }

  /** Adds one change of `showId`. */
  change(showId: string, change: ChangeData): void {
    const what =
      change.kind === "resized"
        ? `resized to ${change.totalSeats ?? "?"} seats`
        : change.kind === "closed"
          ? DESCRIBE.closed
          : `${DESCRIBE[change.kind]} ${describeSeats(change.seats)}`;
    this.#add(change.at, showId, `v${change.version}`, what, change.kind);
  }

  /** Adds a line about the stream itself (a fresh snapshot after a too-old resume). */
  note(showId: string, version: number, text: string): void {
    this.#add(Date.now(), showId, `v${version}`, text, "note");
  }

  #add(at: number, showId: string, version: string, what: string, kind: string): void {
    const item = document.createElement("li");
    item.className = `feed-entry feed-${kind}`;
    const time = document.createElement("time");
    time.dateTime = new Date(at).toISOString();
    time.textContent = new Date(at).toLocaleTimeString();
    const show = document.createElement("span");
    show.className = "feed-show";
    show.textContent = showId;
    const ver = document.createElement("span");
    ver.className = "feed-version";
    ver.textContent = version;
    const text = document.createElement("span");
    text.className = "feed-what";
    text.textContent = what;
    item.append(time, show, ver, text);
    this.#list.prepend(item);
    while (this.#list.children.length > MAX_ENTRIES) this.#list.lastElementChild?.remove();
  }
}

/** "seat 5", "seats 3–6, 9" (at most 8 runs, then a count). */
export function describeSeats(seats: readonly number[]): string {
  if (seats.length === 1) return `seat ${seats[0]}`;
  const runs: string[] = [];
  let index = 0;
  while (index < seats.length) {
    const first = seats[index] ?? 0;
    let last = first;
    while (seats[index + 1] === last + 1) {
      last += 1;
      index += 1;
    }
    runs.push(first === last ? String(first) : `${first}–${last}`);
    index += 1;
  }
  const shown = runs.slice(0, 8).join(", ");
  return `seats ${shown}${runs.length > 8 ? ` and ${runs.length - 8} more runs` : ""}`;
}
