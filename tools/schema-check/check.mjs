// Compile every contracts/schemas/*.json with ajv (draft 2020-12) in strict mode, formats checked,
// and validate each schema's own `examples`. Exit 1 on any error.
//
//   node check.mjs SCHEMA_DIR [CASES.json]
//
// CASES.json, when given, is a list of {"schema": "NetAssetsReported", "data": ...}: the verdict
// of each is printed as one line `VERDICTS: [true, false, ...]`, in order (the Python tests
// compare them with pydantic's and python-jsonschema's).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [dir, casesFile] = process.argv.slice(2);
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);

const validators = new Map();
let failed = 0;
let examples = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
  const name = file.slice(0, -".json".length);
  let validate;
  try {
    validate = ajv.compile(JSON.parse(readFileSync(join(dir, file), "utf8")));
  } catch (error) {
    console.log(`error: ${file} does not compile in strict mode: ${error.message}`);
    failed += 1;
    continue;
  }
  validators.set(name, validate);
  for (const [i, example] of (validate.schema.examples ?? []).entries()) {
    examples += 1;
    if (!validate(example)) {
      console.log(`error: ${file} examples[${i}]: ${ajv.errorsText(validate.errors)}`);
      failed += 1;
    }
  }
}
if (casesFile) {
  const cases = JSON.parse(readFileSync(casesFile, "utf8"));
  const verdicts = cases.map(({ schema, data }) => {
    const validate = validators.get(schema);
    if (!validate) throw new Error(`no schema ${schema}`);
    return validate(data);
  });
  console.log(`VERDICTS: ${JSON.stringify(verdicts)}`);
}
if (failed > 0) {
  console.log(`FAILED: ${failed} error(s)`);
  process.exit(1);
}
console.log(`OK: ${validators.size} schemas compile in strict mode; ${examples} examples valid`);
