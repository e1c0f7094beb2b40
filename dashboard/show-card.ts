import type { SeatMap } from "./seat-map.js";
import type { StreamStatus } from "./show-stream.js";
import type { ListedShow } from "./wire.js";

/** Shows with more seats than this get counts but no grid: a DOM node per seat stops being cheap. */
export const MAX_DRAWN_SEATS = 5000;

const STATUS_TEXT: Readonly<Record<StreamStatus, string>> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  paused: "paused",
};

/**
 * One show on the page: its name, counts, version, stream status and, for a
 * show of at most {@link MAX_DRAWN_SEATS} seats, a grid with one cell per
 * seat (`data-seat`, `data-state` = free, held or booked). Text only ever goes
 * in through textContent.
 */
export class ShowCard {
  readonly element: HTMLElement;
  readonly #grid: HTMLElement;
  readonly #note: HTMLElement;
  readonly #status: HTMLElement;
  readonly #watch: HTMLButtonElement;
  readonly #counts: Record<"free" | "held" | "booked" | "version", HTMLElement>;
  #cells: HTMLElement[] = [];

  constructor(show: ListedShow, onWatch: () => void) {
    this.element = el("section", "show");
    this.element.dataset["show"] = show.id;
    const header = el("header", "show-header");
    const title = el("h2", "show-title", show.displayName === "" ? show.id : show.displayName);
    if (show.displayName !== "" && show.displayName !== show.id) title.append(" ", el("small", "show-id", show.id));
    this.#status = el("span", "status");
    this.#watch = el("button", "watch", "watch live");
    this.#watch.type = "button";
    this.#watch.addEventListener("click", onWatch);
    header.append(title, this.#status, this.#watch);

    const counts = el("dl", "counts");
    const count = (name: string, label: string) => {
      const box = el("div", `count count-${name}`);
      const value = el("dd", "count-value");
      value.dataset["count"] = name;
      box.append(el("dt", "count-label", label), value);
      counts.append(box);
      return value;
    };
    this.#counts = { free: count("free", "free"), held: count("held", "held"), booked: count("booked", "booked"), version: count("version", "version") };
    this.#grid = el("div", "seats");
    this.#note = el("p", "note");
    this.element.append(header, counts, this.#grid, this.#note);
    this.#counts.free.textContent = String(show.totalSeats - show.bookedCount - show.heldCount);
    this.#counts.held.textContent = String(show.heldCount);
    this.#counts.booked.textContent = String(show.bookedCount);
    this.#counts.version.textContent = "–";
    this.setStatus("paused");
  }

  /** Shows where the live stream is; the watch button only while paused. */
  setStatus(status: StreamStatus): void {
    this.#status.textContent = STATUS_TEXT[status];
    this.#status.dataset["status"] = status;
    this.#watch.hidden = status !== "paused";
  }

  /** Draws every seat again (after a snapshot or a resize). */
  drawAll(map: SeatMap): void {
    this.#cells = [];
    this.#grid.replaceChildren();
    const total = map.totalSeats;
    if (total > MAX_DRAWN_SEATS) {
      this.#note.textContent = `${total} seats: too many to draw; the counts are live.`;
    } else {
      this.#note.textContent = "";
      this.#grid.style.setProperty("--columns", String(columnsFor(total)));
      this.#grid.classList.toggle("numbered", total <= 400);
      const cells = document.createDocumentFragment();
      for (let seat = 1; seat <= total; seat++) {
        const cell = el("span", "seat", total <= 400 ? String(seat) : "");
        cell.dataset["seat"] = String(seat);
        this.#cells.push(cell);
        cells.append(cell);
      }
      this.#grid.append(cells);
      for (let seat = 1; seat <= total; seat++) this.#paint(map, seat);
    }
    this.drawCounts(map);
  }

  /** Recolours the given seats. */
  drawSeats(map: SeatMap, seats: readonly number[]): void {
    for (const seat of seats) this.#paint(map, seat);
  }

  drawCounts(map: SeatMap): void {
    this.#counts.free.textContent = String(map.freeCount);
    this.#counts.held.textContent = String(map.heldCount);
    this.#counts.booked.textContent = String(map.bookedCount);
    this.#counts.version.textContent = String(map.version);
    this.element.dataset["version"] = String(map.version);
    this.element.classList.toggle("closed", map.state === "closed");
    this.#grid.setAttribute(
      "aria-label",
      `${map.totalSeats} seats: ${map.freeCount} free, ${map.heldCount} held, ${map.bookedCount} booked${map.state === "closed" ? "; closed to sales" : ""}`,
    );
  }

  #paint(map: SeatMap, seat: number): void {
    const cell = this.#cells[seat - 1];
    const state = map.seat(seat);
    if (cell === undefined || state === undefined) return;
    cell.dataset["state"] = state;
    cell.title = `seat ${seat}: ${state}`;
  }
}

/** Rows of a sensible width: about four times as wide as tall, 10 to 50 seats a row. */
function columnsFor(total: number): number {
  return Math.max(10, Math.min(50, Math.ceil((2 * Math.sqrt(total)) / 5) * 5));
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}
