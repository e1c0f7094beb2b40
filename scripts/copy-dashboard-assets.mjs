// Copies the seat-map page's static files (index.html, styles.css) into
// dist/dashboard, beside the JavaScript that `tsc -p dashboard/tsconfig.json`
// writes there, so the built page is one folder that the server reads at start.
import { copyFileSync, mkdirSync } from "node:fs";

mkdirSync("dist/dashboard", { recursive: true });
for (const name of ["index.html", "styles.css"]) copyFileSync(`dashboard/${name}`, `dist/dashboard/${name}`);
