import { DEFAULT_ADDRESS } from "../client/index.js";

/** The text `booking --help` prints. */
export const CLI_USAGE = `usage: booking <command> [options]

commands:
  book SEATS...         book seats for you, all or none
  cancel SEATS...       release seats you hold (an admin may release any)
  show                  list the free seats
  hold SEATS...         hold seats for you for a while (--ttl), all or none; prints the hold id
  confirm HOLD_ID       book the held seats
  release HOLD_ID       free the held seats
  extend HOLD_ID        hold the seats longer: until now + --ttl
  hold-info HOLD_ID     the hold's seats, state and expiry
  shows                 list every show with its counts
  shows create ID SEATS [--name TEXT]   open a show with SEATS seats (admin)
  shows close ID        stop sales of a show; cancels still work (admin)
  shows resize ID SEATS change a show's number of seats (admin)
  watch                 print the show's seats, then a line per change as it happens, until Ctrl-C;
                        resumes by itself after a dropped connection or a server restart
  serve [options]       run the server (see booking serve --help)
  certs [options]       write a development PKI (see booking certs --help)
  help                  print this help

  SEATS: numbers and ranges, separated by spaces or commas: 1 2 3, 1,2,3, 1-5, 1,3-5 8
  Combined: booking --book 1,2,3 --cancel 1,2 --show runs book, then cancel,
  then show, stopping at the first failure. Flags may also start with one
  dash, as in the original Go client: booking -book 1 2 3 -cancel 1,2 -show
  Admin commands need an admin certificate: --as admin with the development PKI.

options (each also read from the environment variable shown):
  --address HOST:PORT   BOOKING_ADDRESS    default ${DEFAULT_ADDRESS}
  --certs-dir DIR       BOOKING_CERTS_DIR  default certs
  --ca FILE             BOOKING_CA         default DIR/ca.crt
  --cert FILE           BOOKING_CERT       default DIR/alice.crt
  --key FILE            BOOKING_KEY        default DIR/alice.key
  --as NAME             use DIR/NAME.crt and DIR/NAME.key (e.g. --as bob, --as admin)
  --show-id ID          the show of book, cancel, show, hold and watch (default: the server's default show)
  --ttl DURATION        how long hold and extend keep the seats, e.g. 90s, 10m, 1h30m, 1500ms
                        (default and maximum: the server's)
  --name TEXT           the display name of shows create
  --request-id ID       idempotency key of a single write (default: a fresh UUID)
  --deadline MS         give up after MS milliseconds, retries included (default 5000)
  --json                print one JSON object per operation, or per change for watch
                        (errors and watch's reconnect notices: one JSON line on stderr)
  -h, --help            print this help

exit codes: 0 done; 1 the service refused or failed the request;
            2 usage error, unreadable certificates, or no answer from the server
`;
