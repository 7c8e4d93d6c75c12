// Validates outputs against the published JSON Schemas (schema/*.schema.json).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020.js';
import { root } from './cli.mjs';

// formats are documentation here; the patterns carry what is checked
const ajv = new Ajv2020({ strict: true, allErrors: true, validateFormats: false });
const load = (name) => ajv.compile(JSON.parse(readFileSync(path.join(root, 'schema', name), 'utf8')));
const validators = { result: load('result.schema.json'), compare: load('compare.schema.json'), inject: load('inject.schema.json') };

export function assertValid(kind, value) {
  const validate = validators[kind];
  if (!validate(value)) assert.fail(`not a valid ${kind}: ${ajv.errorsText(validate.errors, { separator: '\n' })}`);
}
