// Parse an AsyncAPI document with @asyncapi/parser; print diagnostics; exit 1 on any error.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const file = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"));
const errors = diagnostics.filter((d) => d.severity === 0);
for (const d of diagnostics) {
  const level = ["error", "warning", "info", "hint"][d.severity] ?? d.severity;
  console.log(`${level}: ${d.message} at ${d.path.join(".")}`);
}
if (!document || errors.length > 0) {
  console.log(`FAILED: ${errors.length} error(s)`);
  process.exit(1);
}
console.log(`OK: AsyncAPI ${document.version()} with ${document.channels().length} channels, ${document.allMessages().length} messages`);
