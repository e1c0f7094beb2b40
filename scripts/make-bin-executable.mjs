// Marks the built `booking` command executable. `npx booking` in the
// repository runs the package's own bin file directly (it is not linked
// into node_modules/.bin, npm links only dependencies' bins), and tsc
// writes it without the executable bit: the quick start's `npx booking
// book 1 2 3` failed with "Permission denied" on a fresh clone.
import { chmodSync } from "node:fs";

chmodSync("dist/bin/booking.js", 0o755);
