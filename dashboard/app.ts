import { ChangeFeed } from "./change-feed.js";
import { SeatMap } from "./seat-map.js";
import { ShowCard } from "./show-card.js";
import { ShowStream } from "./show-stream.js";
import type { ShowList } from "./wire.js";

/**
 * Live streams open at once. A browser opens at most six HTTP/1.1
 * connections to one server, and each stream keeps one; the rest stay free
 * for the page itself. Other shows wait, paused, for a click.
 */
const MAX_LIVE_SHOWS = 4;

const showsElement = required<HTMLElement>("#shows");
const feed = new ChangeFeed(required<HTMLOListElement>("#feed"));
const message = required<HTMLElement>("#message");
/** Live streams, least recently started first. */
const live: ShowStream[] = [];

function required<T extends Element>(selector: string): T {
  const element = document.querySelector<T>(selector);
  if (element === null) throw new Error(`the page has no ${selector}`);
  return element;
}

/** Starts a show's stream, pausing the longest-running one past MAX_LIVE_SHOWS. */
function watch(stream: ShowStream): void {
  const index = live.indexOf(stream);
  if (index >= 0) live.splice(index, 1);
  live.push(stream);
  while (live.length > MAX_LIVE_SHOWS) live.shift()?.stop();
  stream.start();
}

async function load(): Promise<void> {
  let list: ShowList;
  try {
    const response = await fetch("shows", { headers: { accept: "application/json" } });
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    list = (await response.json()) as ShowList;
  } catch (error) {
    message.textContent = `Could not list the shows (${error instanceof Error ? error.message : String(error)}); trying again in 5 s.`;
    setTimeout(() => void load(), 5000);
    return;
  }
  message.textContent =
    list.shows.length === 0 ? "No shows yet." : list.truncated ? `Showing the first ${list.shows.length} shows.` : "";
  showsElement.replaceChildren();
  list.shows.forEach((show, index) => {
    const map = new SeatMap(show.id);
    let stream: ShowStream | undefined;
    const card = new ShowCard(show, () => {
      if (stream !== undefined) watch(stream);
    });
    stream = new ShowStream(show.id, {
      snapshot: (data) => {
        map.reset(data);
        card.drawAll(map);
        if (data.resumeTooOld) feed.note(show.id, data.version, "missed too much while away: fresh snapshot");
      },
      changes: (data) => {
        for (const change of data.changes) {
          const seats = map.apply(change);
          if (change.kind === "resized") card.drawAll(map);
          else card.drawSeats(map, seats);
          feed.change(show.id, change);
        }
        card.drawCounts(map);
      },
      status: (status) => card.setStatus(status),
    });
    showsElement.append(card.element);
    if (index < MAX_LIVE_SHOWS) watch(stream);
  });
}

void load();
