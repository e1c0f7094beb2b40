import type { BookingCore } from "../core/booking-core.js";

/** One show as `/shows` lists it: counts only, never who booked or holds a seat. */
export interface ListedShow {
  readonly id: string;
  readonly displayName: string;
  readonly totalSeats: number;
  readonly state: string;
  readonly bookedCount: number;
  readonly heldCount: number;
}

/** The body of `/shows`. */
export interface ShowList {
  readonly shows: readonly ListedShow[];
  /** More shows exist than `limit`; the list stops there. */
  readonly truncated: boolean;
}

/**
 * Every show in id order, paging through core.listShows, at most `limit` of
 * them (a page with thousands of seat maps helps nobody). Fields are copied
 * one by one, so nothing the core adds to a show record later reaches the page
 * unless it is named here.
 */
export async function listAllShows(core: BookingCore, limit: number): Promise<ShowList> {
  const shows: ListedShow[] = [];
  let pageToken = "";
  do {
    const page = await core.listShows({ pageSize: Math.min(1000, limit + 1 - shows.length), pageToken });
    for (const show of page.shows) {
      shows.push({
        id: show.id,
        displayName: show.displayName,
        totalSeats: show.totalSeats,
        state: show.state,
        bookedCount: show.bookedCount,
        heldCount: show.heldCount,
      });
    }
    pageToken = page.nextPageToken;
  } while (pageToken !== "" && shows.length <= limit);
  return { shows: shows.slice(0, limit), truncated: shows.length > limit };
}
