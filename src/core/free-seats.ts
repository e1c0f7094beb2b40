/**
 * The free seats of a show numbered 1..totalSeats, given its booked (or
 * otherwise taken) seats in ascending order. Stores keep only taken seats, so
 * every listing is computed this way.
 */
export function freeSeats(totalSeats: number, takenAscending: readonly number[]): number[] {
  const free: number[] = [];
  let next = 0;
  for (let seat = 1; seat <= totalSeats; seat++) {
    if (takenAscending[next] === seat) next++;
    else free.push(seat);
  }
  return free;
}
